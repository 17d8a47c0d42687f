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
