/**
 * The lag of each member over time, as the dashboard samples it: a bounded window of samples,
 * kept by the server (the page may open late or reload) and drawn by the page's chart. Pure: the
 * sampler passes the time and the lags it read.
 */

export interface LagSample {
  /** Wall time, ms. */
  at: number;
  /** Bytes behind the leader per member; null where unknown (the leader, an unread member). */
  lags: Readonly<Record<string, number | null>>;
}

export interface LagHistory {
  samples: readonly LagSample[];
  /** Samples kept at most. */
  capacity: number;
}

/** Ten minutes of one-second samples. */
export const DEFAULT_LAG_CAPACITY = 600;

export function emptyLagHistory(capacity = DEFAULT_LAG_CAPACITY): LagHistory {
  return { samples: [], capacity };
}

/** `history` with `sample` appended, the oldest dropped beyond its capacity. */
export function recordLag(history: LagHistory, sample: LagSample): LagHistory {
  const samples = [...history.samples, sample];
  return { samples: samples.slice(Math.max(0, samples.length - history.capacity)), capacity: history.capacity };
}

/**
 * uPlot's columnar data: `[times in seconds, one column per member]`, members sorted by name.
 * A member absent from a sample (not yet joined, or gone) has null there, a gap in its line.
 */
export function lagChartData(history: LagHistory): { series: string[]; data: (number | null)[][] } {
  const names = [...new Set(history.samples.flatMap((s) => Object.keys(s.lags)))].sort();
  const times = history.samples.map((s) => s.at / 1000);
  const columns = names.map((n) => history.samples.map((s) => s.lags[n] ?? null));
  return { series: names, data: [times, ...columns] };
}
