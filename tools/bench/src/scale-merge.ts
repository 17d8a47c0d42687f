/**
 * The scale bench's figures from its workers' samples: every renewal latency of every worker in
 * one sorted list, so the median, p99 and max are of all renewals (never an average of the
 * workers' own percentiles), and the counts summed.
 */

/** What one worker process measured over the window. */
export interface WorkerSample {
  /** Every renewal's latency in the window, ms (failed ones included). */
  latencies: number[];
  failed: number;
  late: number;
  /** Lock acquisitions in the window. */
  acquired: number;
  members: number;
  /** Clusters of this worker with a leader at the end of the window. */
  clustersWithLeader: number;
  /** CPU (user + system) of the worker process over the window, seconds. */
  cpuSeconds: number;
  rssMb: number;
}

export interface MergedFigures {
  members: number;
  clustersWithLeader: number;
  renewals: { count: number; medianMs: number | null; p99Ms: number | null; maxMs: number | null };
  /** Renewals that failed (rejected or lost the lock) or came more than two loop_waits after the previous one. */
  missedRenewals: { failed: number; late: number; total: number };
  /** Lock acquisitions during the window (0 when every leader kept its lock). */
  leaderChanges: number;
  /** All workers together: CPU seconds over the window, RSS summed at its end (MB). */
  workers: { cpuSeconds: number; rssMb: number };
}

/** The nearest-rank percentile `p` of an ascending list, or null when empty. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

export function mergeSamples(samples: WorkerSample[]): MergedFigures {
  const sorted = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const sum = (f: (s: WorkerSample) => number) => samples.reduce((total, s) => total + f(s), 0);
  const failed = sum((s) => s.failed);
  const late = sum((s) => s.late);
  return {
    members: sum((s) => s.members),
    clustersWithLeader: sum((s) => s.clustersWithLeader),
    renewals: { count: sorted.length, medianMs: round1(percentile(sorted, 50)), p99Ms: round1(percentile(sorted, 99)), maxMs: round1(sorted[sorted.length - 1] ?? null) },
    missedRenewals: { failed, late, total: failed + late },
    leaderChanges: sum((s) => s.acquired),
    workers: { cpuSeconds: sum((s) => s.cpuSeconds), rssMb: Math.round(sum((s) => s.rssMb) * 10) / 10 },
  };
}

/** Which clusters worker `w` of `k` runs: contiguous ranges, sizes differing by at most one. */
export function shareOf(clusters: number, k: number, w: number): { from: number; to: number } {
  const base = Math.floor(clusters / k);
  const extra = clusters % k;
  const from = w * base + Math.min(w, extra);
  return { from, to: from + base + (w < extra ? 1 : 0) };
}
