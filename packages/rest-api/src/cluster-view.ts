/**
 * GET /cluster: every member as Patroni's `cluster_as_json` shows it, from the last cycle's read
 * (no DCS call per request).
 */
import { configFlag, type Cluster, type Member } from '@pgha/dcs';
import { failoverReadiness, resolveEngineConfig } from '@pgha/ha-engine';

export interface ClusterMemberView {
  name: string;
  role: 'leader' | 'standby_leader' | 'sync_standby' | 'replica';
  state: string;
  api_url?: string;
  host?: string;
  port?: number;
  timeline?: number;
  pending_restart?: boolean;
  scheduled_restart?: Record<string, unknown>;
  tags?: Record<string, unknown>;
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
  const role = isLeader
    ? standbyCluster
      ? 'standby_leader'
      : 'leader'
    : (cluster.sync?.value.sync_standby ?? []).includes(m.name)
      ? 'sync_standby'
      : 'replica';
  const view: ClusterMemberView = { name: m.name, role, state: m.data.state ?? 'unknown' };
  if (m.data.api_url) view.api_url = m.data.api_url;
  Object.assign(view, hostPort(m.data.conn_url));
  if (m.data.timeline !== undefined) view.timeline = m.data.timeline;
  if (m.data.pending_restart) view.pending_restart = true;
  if (m.data.scheduled_restart) view.scheduled_restart = m.data.scheduled_restart;
  if (Object.keys(m.data.tags).length > 0) view.tags = m.data.tags;
  if (!isLeader) {
    const position = m.data.xlog_location;
    view.lag = leaderLsn === null || position === undefined ? 'unknown' : Math.max(0, leaderLsn - position);
  }
  return view;
}

export function clusterView(cluster: Cluster, scope: string): ClusterView {
  const config = cluster.config?.value ?? {};
  const standbyCluster = typeof config['standby_cluster'] === 'object' && config['standby_cluster'] !== null;
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
