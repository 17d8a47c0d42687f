/**
 * GET /cluster: every member as Patroni's `cluster_as_json` shows it, from the last cycle's read
 * (no DCS call per request).
 */
import { configFlag, formatLsn, isStandbyClusterConfig, synchronousRoleOf, type Cluster, type Member } from '@pgha/dcs';
import { failoverReadiness, resolveEngineConfig } from '@pgha/ha-engine';

export interface ClusterMemberView {
  name: string;
  role: 'leader' | 'standby_leader' | 'sync_standby' | 'quorum_standby' | 'replica';
  state: string;
  api_url?: string;
  host?: string;
  port?: number;
  timeline?: number;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, { old_value: string; new_value: string }>;
  scheduled_restart?: Record<string, unknown>;
  tags?: Record<string, unknown>;
  /**
   * Patroni 4.1's positions of a non-leader (`X/Y`) and their lag behind the leader in bytes;
   * `unknown` when the member key has no such position. Patroni 3 tools ignore them.
   */
  receive_lsn?: string;
  receive_lag?: number | 'unknown';
  replay_lsn?: string;
  replay_lag?: number | 'unknown';
  lsn?: string;
  lag?: number | 'unknown';
}

export interface ClusterView {
  members: ClusterMemberView[];
  scope: string;
  pause?: boolean;
  scheduled_switchover?: { at: string; from?: string; to?: string };
  /**
   * pgha's own (Patroni has no such field; its tools ignore it): could the cluster fail over
   * automatically if the leader died now, who could take over, and why not (ha-engine's
   * failover-readiness.ts).
   */
  automatic_failover?: { possible: boolean; candidates: string[]; reason: string };
}

/** `postgres://host:port/db` → host and port (5432 when absent). */
function hostPort(connUrl: string | undefined): { host?: string; port?: number } {
  if (!connUrl) return {};
  try {
    const url = new URL(connUrl);
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : 5432 };
  } catch {
    return {};
  }
}

function memberView(m: Member, cluster: Cluster, standbyCluster: boolean, leaderLsn: number | null): ClusterMemberView {
  const isLeader = cluster.leader?.name === m.name;
  const role = isLeader ? (standbyCluster ? 'standby_leader' : 'leader') : (synchronousRoleOf(cluster, m.name) ?? 'replica');
  const view: ClusterMemberView = { name: m.name, role, state: m.data.state ?? 'unknown' };
  if (m.data.api_url) view.api_url = m.data.api_url;
  Object.assign(view, hostPort(m.data.conn_url));
  if (m.data.timeline !== undefined) view.timeline = m.data.timeline;
  if (m.data.pending_restart) view.pending_restart = true;
  if (m.data.pending_restart_reason) view.pending_restart_reason = m.data.pending_restart_reason;
  if (m.data.scheduled_restart) view.scheduled_restart = m.data.scheduled_restart;
  if (Object.keys(m.data.tags).length > 0) view.tags = m.data.tags;
  if (!isLeader) {
    const behind = (position: number | undefined): number | 'unknown' => (leaderLsn === null || position === undefined ? 'unknown' : Math.max(0, leaderLsn - position));
    // As Patroni 4.1: a position of 0 (never received anything) is unknown, not a lag.
    const known = (position: number | undefined) => (position ? position : undefined);
    const receive = known(m.data.receive_lsn);
    const replay = known(m.data.replay_lsn);
    const current = known(m.data.xlog_location);
    view.receive_lsn = receive === undefined ? 'unknown' : formatLsn(receive);
    view.receive_lag = behind(receive);
    view.replay_lsn = replay === undefined ? 'unknown' : formatLsn(replay);
    view.replay_lag = behind(replay);
    view.lsn = current === undefined ? 'unknown' : formatLsn(current);
    // `lag` as before (Patroni 3's field): a position of 0 still has a lag.
    view.lag = behind(m.data.xlog_location);
  }
  return view;
}

export function clusterView(cluster: Cluster, scope: string): ClusterView {
  const config = cluster.config?.value ?? {};
  const standbyCluster = isStandbyClusterConfig(config);
  const leaderMember = cluster.members.find((m) => m.name === cluster.leader?.name);
  const leaderLsn = cluster.status?.value.optime ?? leaderMember?.data.xlog_location ?? null;
  const view: ClusterView = {
    members: [...cluster.members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((m) => memberView(m, cluster, standbyCluster, leaderLsn)),
    scope,
  };
  if (configFlag(config, 'pause')) view.pause = true;
  if (cluster.leader) {
    const { possible, candidates, reason } = failoverReadiness(cluster, resolveEngineConfig(cluster.config?.value).config);
    view.automatic_failover = { possible, candidates, reason };
  }
  const failover = cluster.failover?.value;
  if (failover?.scheduled_at) {
    view.scheduled_switchover = { at: failover.scheduled_at };
    if (failover.leader) view.scheduled_switchover.from = failover.leader;
    if (failover.member) view.scheduled_switchover.to = failover.member;
  }
  return view;
}
