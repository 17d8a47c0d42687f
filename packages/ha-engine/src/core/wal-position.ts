/**
 * Which WAL position is "ours": the one this member publishes (`xlog_location`), compares in a
 * leader race and checks against the switch point of a rejoin. The PostgreSQL port reports every
 * position it read; this rule picks the one that counts.
 */

/** The positions a state read gives (bytes; null when not read or not applicable). */
export interface WalPositions {
  running: boolean;
  /** The role of a running server (a stopped one: what pg_control records). */
  role: 'primary' | 'replica' | 'unknown';
  /** A running primary's flushed position. */
  currentLsn: number | null;
  /** A replica's last received position. */
  receivedLsn: number | null;
  /** A replica's last replayed position. */
  replayedLsn: number | null;
  /**
   * A stopped server's end of WAL from pg_control: a replica's minimum recovery point, else the
   * latest checkpoint (the start of that record).
   */
  stoppedLsn: number | null;
}

/**
 * A running primary: its flushed position. A running replica (or one whose role is not known
 * yet): the further of received and replayed, as Patroni's `_wal_position` — WAL received but
 * not replayed yet is still WAL this member holds; null when neither is known (0 counts as
 * unknown). A stopped server: where pg_control says its WAL ends (`stoppedLsn`).
 */
export function ourWalPosition(p: WalPositions): number | null {
  if (!p.running) return p.stoppedLsn;
  if (p.role === 'primary') return p.currentLsn;
  return replicaLagPosition(p, 'held') || null;
}

/**
 * Which of a running replica's positions a lag check measures. Patroni's engine counts WAL
 * received but not yet replayed as held (`held`: max(received, replayed), as `ourWalPosition`):
 * a promotion replays it first, so for a candidate it is not lost. Patroni's REST API health
 * checks (`GET /replica?lag=`, `/readiness`) count only what is replayed (`replayed`): what a
 * client reading the replica sees. pgha keeps both answers, so the one rule takes the choice.
 */
export type LagMeasure = 'held' | 'replayed';

/** A running replica's position under `measure` (bytes; 0 when not known). */
export function replicaLagPosition(p: { receivedLsn: number | null; replayedLsn: number | null }, measure: LagMeasure): number {
  const replayed = p.replayedLsn ?? 0;
  return measure === 'replayed' ? replayed : Math.max(p.receivedLsn ?? 0, replayed);
}

/**
 * Patroni's lag rule, once: a position more than `maxLagBytes` behind the primary's last
 * published position (the `status` key's optime). An unknown primary position (0) lags nobody.
 */
export function exceedsLag(input: { primaryLsn: number; position: number; maxLagBytes: number }): boolean {
  return input.primaryLsn > 0 && input.primaryLsn - input.position > input.maxLagBytes;
}
