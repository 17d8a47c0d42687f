/**
 * What the writer's record says about an outage, as the benchmarks read it. Times are the
 * writer's wall-clock ms (`AckedCommit.sentAt`, `.at`, `Writer.failures()`).
 */
import type { AckedCommit, Writer } from './writer.js';

/** Longest time between two consecutive commits whose send times fall in [from, to]. */
export function longestGap(commits: readonly AckedCommit[], from: number, to: number): number {
  let gap = 0;
  let prev: number | null = null;
  for (const c of commits) {
    if (c.sentAt < from) {
      prev = c.at;
      continue;
    }
    if (c.sentAt > to) break;
    if (prev !== null) gap = Math.max(gap, c.at - prev);
    prev = c.at;
  }
  return gap;
}

/**
 * When writes resumed after the disruption at `from`: the first commit sent after the first
 * failure at or after `from`. A backend can outlive a killed postmaster for a moment, so only a
 * commit after a failure shows the service is back.
 */
export function recoveredAfter(writer: Pick<Writer, 'acked' | 'failures'>, from: number): AckedCommit | undefined {
  const failed = writer.failures().find((f) => f >= from);
  return failed === undefined ? undefined : writer.acked().find((c) => c.sentAt >= failed);
}
