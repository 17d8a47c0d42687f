import { describe, expect, it } from 'vitest';
import { mergeSamples, percentile, shareOf, type WorkerSample } from '../src/scale-merge.js';

const sample = (latencies: number[], o: Partial<WorkerSample> = {}): WorkerSample => ({
  latencies,
  failed: 0,
  late: 0,
  acquired: 0,
  members: 3,
  clustersWithLeader: 1,
  cpuSeconds: 1,
  rssMb: 100,
  ...o,
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});

describe('mergeSamples', () => {
  it('takes the percentiles of all renewals together, not of each worker', () => {
    // Worker a: 99 fast renewals; worker b: one slow one. Per worker, b's p99 would be 500 ms;
    // over all 100 renewals the p99 is the 99th fastest, 10 ms.
    const merged = mergeSamples([sample(Array.from({ length: 99 }, () => 10)), sample([500])]);
    expect(merged.renewals).toEqual({ count: 100, medianMs: 10, p99Ms: 10, maxMs: 500 });
  });

  it('sorts numerically across workers and rounds to 0.1 ms', () => {
    const merged = mergeSamples([sample([30.04, 2]), sample([100.06, 9])]);
    expect(merged.renewals).toEqual({ count: 4, medianMs: 9, p99Ms: 100.1, maxMs: 100.1 });
  });

  it('sums the counts, members, CPU and RSS', () => {
    const merged = mergeSamples([
      sample([1], { failed: 1, late: 2, acquired: 1, members: 6, clustersWithLeader: 2, cpuSeconds: 1.5, rssMb: 80.04 }),
      sample([2], { failed: 0, late: 1, acquired: 0, members: 3, clustersWithLeader: 1, cpuSeconds: 0.5, rssMb: 90.02 }),
    ]);
    expect(merged).toMatchObject({
      members: 9,
      clustersWithLeader: 3,
      missedRenewals: { failed: 1, late: 3, total: 4 },
      leaderChanges: 1,
      workers: { cpuSeconds: 2, rssMb: 170.1 },
    });
  });

  it('reports no renewals as nulls', () => {
    expect(mergeSamples([sample([]), sample([])]).renewals).toEqual({ count: 0, medianMs: null, p99Ms: null, maxMs: null });
  });
});

describe('shareOf', () => {
  it('covers every cluster once, in ranges differing by at most one', () => {
    for (const [clusters, k] of [[10, 3], [1000, 2], [5, 5], [7, 1]] as const) {
      const shares = Array.from({ length: k }, (_, w) => shareOf(clusters, k, w));
      expect(shares[0]!.from).toBe(0);
      expect(shares[k - 1]!.to).toBe(clusters);
      for (let w = 1; w < k; w++) expect(shares[w]!.from).toBe(shares[w - 1]!.to);
      const sizes = shares.map((s) => s.to - s.from);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });
});
