/**
 * A token bucket for the unsafe endpoints: a flood of management calls is refused with 429
 * before it reads a body or touches the DCS, so it cannot crowd out the HA loop's DCS calls.
 */
export interface RateLimiter {
  /** Takes one token; false when the bucket is empty. */
  take(): boolean;
}

export function createRateLimiter(rate: { perSecond: number; burst: number }, now: () => number): RateLimiter {
  let tokens = rate.burst;
  let last = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(rate.burst, tokens + ((t - last) / 1000) * rate.perSecond);
      last = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
