/**
 * A monotonic clock in milliseconds. Drivers time the leader hold with it and the engine compares
 * against it, so the two must share one instance. It never goes backwards and has no relation to
 * wall-clock time (use `Date` only for values shown to people or written to the DCS).
 */
export interface MonotonicClock {
  now(): number;
}

/** The process's monotonic clock (`performance.now()`). */
export const systemClock: MonotonicClock = { now: () => performance.now() };

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
