/**
 * The WAL columns of `list` as patronictl 4.1 shows them: `Receive LSN`, `Receive Lag`, `Replay
 * LSN`, `Replay Lag` per non-leader, measured from the leader's last published position
 * (`/status.optime`), lags in whole MB. A member key without receive/replay positions (Patroni
 * before 4.1, or pgha on a stopped replica) shows its one position under receive when streaming,
 * under replay otherwise, as patronictl does.
 */
import { formatLsn, type Cluster, type Member } from '@pgha/dcs';
import { roundHalfEven } from './python-text.js';

type Position = { lsn: string; lag: number } | 'unknown';

function position(bytes: number | undefined, clusterLsn: number): Position {
  if (!bytes) return 'unknown';
  return { lsn: formatLsn(bytes), lag: clusterLsn >= bytes ? clusterLsn - bytes : 0 };
}

/** The state `list` shows: a replica's replication state (`streaming`) where it has one. */
export function listedState(cluster: Cluster, member: Member): string {
  const d = member.data;
  return (cluster.leader?.name !== member.name ? d.replication_state : undefined) || (d.state ?? '');
}

/** `[Receive LSN, Receive Lag, Replay LSN, Replay Lag]`; blank for the leader and for unknown lags. */
export function positionCells(cluster: Cluster, member: Member): [string, number | string, string, number | string] {
  if (cluster.leader?.name === member.name) return ['', '', '', ''];
  const clusterLsn = cluster.status?.value.optime ?? 0;
  let receive = position(member.data.receive_lsn, clusterLsn);
  let replay = position(member.data.replay_lsn, clusterLsn);
  const current = position(member.data.xlog_location, clusterLsn);
  if (receive === 'unknown' && replay === 'unknown' && current !== 'unknown') {
    if (listedState(cluster, member) === 'streaming') receive = current;
    else replay = current;
  }
  const lsn = (p: Position) => (p === 'unknown' ? 'unknown' : p.lsn);
  const lag = (p: Position) => (p === 'unknown' ? '' : roundHalfEven(p.lag / 1024 / 1024));
  return [lsn(receive), lag(receive), lsn(replay), lag(replay)];
}

/** `param: old->new` per line; in a drawn table a line longer than 50 characters is hidden. */
export function pendingRestartReason(member: Member, drawn: boolean): string {
  return Object.entries(member.data.pending_restart_reason ?? {})
    .map(([param, v]) => {
      const full = `${param}: ${v.old_value}->${v.new_value}`;
      return !drawn || full.length <= 50 ? full : `${param}: [hidden - too long]`;
    })
    .join('\n');
}
