/**
 * `pg_controldata` output: what the control file says about a data directory whether or not the
 * server runs. Run with LC_ALL=C so the labels are the English ones parsed here.
 */
import { parseLsn } from './lsn.js';

export interface ControlData {
  /** Every `label: value` line, as printed. */
  raw: Record<string, string>;
  systemIdentifier: string | null;
  /** `in production`, `shut down`, `shut down in recovery`, `in archive recovery`, `in crash recovery`, ... */
  clusterState: string | null;
  checkpointLsn: number | null;
  checkpointTimeline: number | null;
  /** Minimum recovery ending location; 0 when not set. */
  minRecoveryLsn: number | null;
  minRecoveryTimeline: number | null;
  dataChecksums: boolean;
  walLogHints: boolean;
}

/** Parses pg_controldata's output; unknown or missing labels give nulls. */
export function parseControlData(output: string): ControlData {
  const raw: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    raw[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const int = (label: string): number | null => {
    const v = raw[label];
    if (v === undefined || !/^\d+$/.test(v)) return null;
    return Number(v);
  };
  return {
    raw,
    systemIdentifier: raw['Database system identifier'] ?? null,
    clusterState: raw['Database cluster state'] ?? null,
    checkpointLsn: parseLsn(raw['Latest checkpoint location']),
    checkpointTimeline: int("Latest checkpoint's TimeLineID"),
    minRecoveryLsn: parseLsn(raw['Minimum recovery ending location']),
    minRecoveryTimeline: int("Min recovery ending loc's timeline"),
    dataChecksums: (int('Data page checksum version') ?? 0) !== 0,
    walLogHints: raw['wal_log_hints setting'] === 'on',
  };
}

/**
 * Where the WAL of a stopped server ends, as Patroni reads it from the control file: a replica's
 * minimum recovery point (the end of what it replayed), or a cleanly stopped primary's shutdown
 * checkpoint (the start of its last record). Null when the server did not stop cleanly.
 */
export function stoppedPosition(control: ControlData): { timeline: number; lsn: number; lsnIsRecordStart: boolean } | null {
  const state = control.clusterState;
  if (state === 'shut down in recovery' || state === 'in archive recovery') {
    const lsn = control.minRecoveryLsn;
    const timeline = control.minRecoveryTimeline || control.checkpointTimeline;
    // A minimum recovery point of 0 means the replica stopped at its checkpoint.
    if (lsn && timeline) return { timeline, lsn, lsnIsRecordStart: false };
    if (control.checkpointLsn !== null && control.checkpointTimeline) {
      return { timeline: control.checkpointTimeline, lsn: control.checkpointLsn, lsnIsRecordStart: true };
    }
    return null;
  }
  if (state === 'shut down' && control.checkpointLsn !== null && control.checkpointTimeline) {
    return { timeline: control.checkpointTimeline, lsn: control.checkpointLsn, lsnIsRecordStart: true };
  }
  return null;
}
