/**
 * Time. Drivers time the leader hold with a monotonic clock and the engine compares against it,
 * so the two must share one instance; the HA loop also sleeps and reads wall-clock time through
 * the same object, so tests can drive all three with one fake.
 */

/**
 * A monotonic clock in milliseconds. It never goes backwards and has no relation to wall-clock
 * time (use `Date` only for values shown to people or written to the DCS).
 */
export interface MonotonicClock {
  now(): number;
}

/** Time, for the loop, the safety deadline and the deadlines of calls. */
export interface Clock extends MonotonicClock {
  /** Monotonic milliseconds; the same clock the DCS driver times its lease with. */
  now(): number;
  /** Milliseconds since the Unix epoch (scheduled switchovers, timestamps written to the DCS). */
  wallNow(): number;
  /** Resolves after `ms` milliseconds, or as soon as `signal` aborts. Never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The longest delay a Node timer takes: 2^31 - 1 ms (about 24.8 days). A longer one fires after
 * 1 ms, which would turn every deadline derived from a huge configured value into an instant
 * failure; so every timer pgha arms goes through `timerDelay`.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** `ms` made safe for setTimeout: not negative, not NaN, at most MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/** Resolves after `ms` milliseconds of real time, or as soon as `signal` aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, timerDelay(ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The process's monotonic clock (`performance.now()`). */
export const systemClock: MonotonicClock = { now: () => performance.now() };

/** The real clock: `performance.now()`, `Date.now()` and `setTimeout`. */
export const nodeClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  sleep,
};
