/**
 * Token buckets for the unsafe endpoints, one per source address: a flood of management calls
 * is refused with 429 before it touches the DCS, so it cannot crowd out the HA loop's DCS calls,
 * and one busy (or hostile) client does not use up the operator's budget on another host. The
 * table is bounded: the source seen longest ago is forgotten first (it comes back with a full
 * bucket, which costs at most one burst).
 */
export interface RateLimiter {
  /** Takes one token of `source`; false when its bucket is empty. */
  take(source: string): boolean;
}

interface Bucket {
  tokens: number;
  last: number;
}

export function createRateLimiter(rate: { perSecond: number; burst: number }, now: () => number, maxSources = 1024): RateLimiter {
  const buckets = new Map<string, Bucket>();
  return {
    take(source) {
      const t = now();
      const b = buckets.get(source) ?? { tokens: rate.burst, last: t };
      buckets.delete(source);
      if (buckets.size >= maxSources) buckets.delete(buckets.keys().next().value as string);
      buckets.set(source, b);
      b.tokens = Math.min(rate.burst, b.tokens + ((t - b.last) / 1000) * rate.perSecond);
      b.last = t;
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
  };
}
