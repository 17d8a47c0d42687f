/**
 * pgha's decision metrics: `pgha_decisions_total{code}`, how many HA cycles ended with each reason
 * code (ha-engine reason-codes.ts), and `pgha_lock_renewal_age_seconds`, the time since this
 * member last acquired or renewed the leader lock (a leader whose value climbs towards ttl is
 * about to lose its lock).
 */

export interface DecisionMetrics {
  /** Counts one cycle that ended with `code`. */
  countDecision(code: string): void;
  /** The monotonic ms of the last successful acquire or renewal, null when there was none. */
  lockRenewedAt(atMs: number | null): void;
  render(labels: string, nowMs: number): string;
}

/** Prometheus label value escaping. */
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function createDecisionMetrics(): DecisionMetrics {
  // Codes form a closed set (a few dozen), so the series stay bounded.
  const counts = new Map<string, number>();
  let renewedAt: number | null = null;
  return {
    countDecision(code) {
      counts.set(code, (counts.get(code) ?? 0) + 1);
    },
    lockRenewedAt(atMs) {
      renewedAt = atMs;
    },
    render(labels, nowMs) {
      const rows = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([code, n]) => `pgha_decisions_total{${labels},code="${esc(code)}"} ${n}`);
      const age = renewedAt === null ? -1 : Math.max(0, nowMs - renewedAt) / 1000;
      return [
        '# HELP pgha_decisions_total HA cycles by the reason code they ended with (docs/decisions.md).',
        '# TYPE pgha_decisions_total counter',
        ...rows,
        '# HELP pgha_lock_renewal_age_seconds Seconds since this member last acquired or renewed the leader lock, -1 if it never did.',
        '# TYPE pgha_lock_renewal_age_seconds gauge',
        `pgha_lock_renewal_age_seconds{${labels}} ${age}`,
      ].join('\n');
    },
  };
}
