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
  /** A stopped server's latest checkpoint (the start of that record, from pg_control). */
  checkpointLsn: number | null;
}

/**
 * A running primary: its flushed position. A running replica (or one whose role is not known
 * yet): the further of received and replayed, as Patroni's `_wal_position` — WAL received but
 * not replayed yet is still WAL this member holds; null when neither is known (0 counts as
 * unknown). A stopped server: its latest checkpoint, the only position pg_control gives.
 */
export function ourWalPosition(p: WalPositions): number | null {
  if (!p.running) return p.checkpointLsn;
  if (p.role === 'primary') return p.currentLsn;
  return Math.max(p.receivedLsn ?? 0, p.replayedLsn ?? 0) || null;
}
