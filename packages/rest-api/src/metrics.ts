/**
 * GET /metrics in the Prometheus text format (version 0.0.4), with Patroni's metric names and
 * `{scope,name}` labels, plus pgha's own. Patroni's part is rendered once per published
 * snapshot; pgha's part is a handful of numbers, so a scrape costs no I/O.
 */
import { configFlag, failoverPriority, synchronousRoleOf } from '@pgha/dcs';
import { createDecisionMetrics, type DecisionMetrics } from './decision-metrics.js';
import type { ApiSnapshot } from './state.js';

/** pgha's own measurements, fed by the agent. */
export interface ApiMetrics extends Omit<DecisionMetrics, 'render'> {
  /** Records how long one HA cycle took. */
  observeCycle(ms: number): void;
  /** Records one DCS call's latency. */
  observeDcsCall(ms: number, ok: boolean): void;
  /** Records that the leader changed (failover or switchover observed), wall ms. */
  leaderChanged(wallMs: number): void;
  /** Counts an answered API request. */
  countRequest(): void;
  /** pgha's metrics, rendered. */
  render(labels: string): string;
}

/** Upper bounds (seconds) of the latency histograms. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Histogram {
  readonly counts = new Array<number>(BUCKETS.length).fill(0);
  sum = 0;
  total = 0;
  observe(seconds: number): void {
    this.sum += seconds;
    this.total++;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.counts[i]!++;
  }
  render(name: string, help: string, labels: string): string {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    BUCKETS.forEach((le, i) => lines.push(`${name}_bucket{${labels},le="${le}"} ${this.counts[i]}`));
    lines.push(`${name}_bucket{${labels},le="+Inf"} ${this.total}`, `${name}_sum{${labels}} ${this.sum}`, `${name}_count{${labels}} ${this.total}`);
    return lines.join('\n');
  }
}

/** `now`: monotonic ms, the clock `lockRenewedAt` is given in (default `performance.now`). */
export function createApiMetrics(now: () => number = () => performance.now()): ApiMetrics {
  const decisions = createDecisionMetrics();
  const cycle = new Histogram();
  const dcs = new Histogram();
  let dcsErrors = 0;
  let lastCycleSeconds = 0;
  let lastLeaderChange = 0;
  let requests = 0;
  return {
    observeCycle(ms) {
      lastCycleSeconds = ms / 1000;
      cycle.observe(ms / 1000);
    },
    observeDcsCall(ms, ok) {
      dcs.observe(ms / 1000);
      if (!ok) dcsErrors++;
    },
    leaderChanged(wallMs) {
      lastLeaderChange = wallMs / 1000;
    },
    countRequest() {
      requests++;
    },
    countDecision: (code) => decisions.countDecision(code),
    lockRenewedAt: (at) => decisions.lockRenewedAt(at),
    render(labels) {
      return [
        cycle.render('pgha_ha_cycle_duration_seconds', 'Duration of the HA cycles.', labels),
        gauge('pgha_ha_last_cycle_duration_seconds', 'Duration of the last HA cycle.', labels, lastCycleSeconds),
        dcs.render('pgha_dcs_call_duration_seconds', 'Latency of the DCS calls made by the HA loop.', labels),
        `# HELP pgha_dcs_call_errors_total DCS calls that failed.\n# TYPE pgha_dcs_call_errors_total counter\npgha_dcs_call_errors_total{${labels}} ${dcsErrors}`,
        gauge('pgha_last_leader_change_time', 'Epoch seconds when this member last saw the leader change (failover or switchover), 0 if never.', labels, lastLeaderChange),
        `# HELP pgha_api_requests_total REST API requests answered.\n# TYPE pgha_api_requests_total counter\npgha_api_requests_total{${labels}} ${requests}`,
        decisions.render(labels, now()),
      ].join('\n');
    },
  };
}

function gauge(name: string, help: string, labels: string, value: number | string): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}{${labels}} ${value}`;
}

/** Prometheus label value escaping. */
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function metricLabels(snapshot: ApiSnapshot): string {
  return `scope="${esc(snapshot.status.patroni.scope)}",name="${esc(snapshot.status.patroni.name)}"`;
}

/** `3.0.2` → `030002` (Patroni writes the version this way, as a number). */
function versionNumber(version: string): string {
  const [a = 0, b = 0, c = 0] = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return `${String(a).padStart(2, '0')}${String(b).padStart(2, '0')}${String(c).padStart(2, '0')}`;
}

/** pgha's replica-streaming gauges (wal-receiver.ts in the engine) from one snapshot. */
export function renderReceiverMetrics(s: ApiSnapshot): string {
  const labels = metricLabels(s);
  const n = s.notStreaming ?? null;
  return [
    gauge('pgha_replica_not_streaming_seconds', 'Seconds this replica has not streamed from the upstream it should follow, 0 while it does.', labels, n ? n.seconds : 0),
    gauge('pgha_replica_not_streaming_unhealthy', 'Value is 1 if this replica has not streamed for longer than replica_not_streaming_timeout, 0 otherwise.', labels, n?.unhealthy ? 1 : 0),
  ].join('\n');
}

/**
 * Patroni 4.1's `PostgresqlState` with the index `patroni_postgres_state` reports (Patroni
 * promises the numbers never change); any other state reads as -1.
 */
const POSTGRES_STATES: readonly (readonly [state: string, name: string])[] = [
  ['initializing new cluster', 'initdb'],
  ['initdb failed', 'initdb_failed'],
  ['running custom bootstrap script', 'custom_bootstrap'],
  ['custom bootstrap failed', 'custom_bootstrap_failed'],
  ['creating replica', 'creating_replica'],
  ['running', 'running'],
  ['starting', 'starting'],
  ['starting after custom bootstrap', 'bootstrap_starting'],
  ['start failed', 'start_failed'],
  ['restarting', 'restarting'],
  ['restart failed', 'restart_failed'],
  ['stopping', 'stopping'],
  ['stopped', 'stopped'],
  ['stop failed', 'stop_failed'],
  ['crashed', 'crashed'],
];

/** `patroni_postgres_state` as Patroni 4.1 prints it, with its `# Values:` legend. */
function postgresStateMetric(labels: string, state: string): string {
  const legend = POSTGRES_STATES.map(([, name], i) => `${name}=${i}`).join(', ');
  const index = POSTGRES_STATES.findIndex(([value]) => value === state);
  return `# HELP patroni_postgres_state Numeric representation of Postgres state.\n# Values: ${legend}\n# TYPE patroni_postgres_state gauge\npatroni_postgres_state{${labels}} ${index}`;
}

/** Patroni's metrics from one snapshot. */
export function renderPatroniMetrics(s: ApiSnapshot): string {
  const labels = metricLabels(s);
  const st = s.status;
  const running = st.state === 'running';
  const primary = s.hasLock && (st.role === 'master' || st.role === 'primary');
  const replica = running && st.role === 'replica';
  const xlog = st.xlog ?? {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const startTime = st.postmaster_start_time ? Date.parse(st.postmaster_start_time.replace(' ', 'T')) / 1000 : 0;
  const replayedTs = 'replayed_timestamp' in xlog && xlog.replayed_timestamp ? Date.parse(xlog.replayed_timestamp.replace(' ', 'T')) / 1000 : 0;
  const config = s.cluster?.config?.value ?? {};
  const failsafeEnabled = configFlag(config, 'failsafe_mode');
  const syncRole = s.cluster ? synchronousRoleOf(s.cluster, st.patroni.name) : null;
  // Patroni 4.1 (after 4.1.4): this member is in the `failsafe` key's topology.
  const failsafeMember = Object.prototype.hasOwnProperty.call(s.cluster?.failsafe?.value ?? {}, st.patroni.name);
  const priority = failoverPriority(st.tags ?? {});
  const rows: [string, string, number | string][] = [
    ['patroni_version', 'Patroni semver without periods.', versionNumber(st.patroni.version)],
    ['patroni_postgres_running', 'Value is 1 if Postgres is running, 0 otherwise.', running ? 1 : 0],
    ['patroni_postmaster_start_time', 'Epoch seconds since Postgres started.', Number.isFinite(startTime) ? startTime : 0],
    ['patroni_primary', 'Value is 1 if this node is the leader, 0 otherwise.', primary ? 1 : 0],
    // Patroni 4 dropped the 3.x name.
    ...(s.patroniDialect === 4 ? [] : [['patroni_master', 'Value is 1 if this node is the leader, 0 otherwise.', primary ? 1 : 0] as [string, string, number]]),
    ['patroni_xlog_location', 'Current location of the Postgres transaction log, 0 if this node is not the leader.', primary && 'location' in xlog ? num(xlog.location) : 0],
    ['patroni_standby_leader', 'Value is 1 if this node is the standby_leader, 0 otherwise.', s.hasLock && st.role === 'standby_leader' ? 1 : 0],
    ['patroni_replica', 'Value is 1 if this node is a replica, 0 otherwise.', replica ? 1 : 0],
    ['patroni_sync_standby', 'Value is 1 if this node is a sync standby replica, 0 otherwise.', replica && syncRole === 'sync_standby' ? 1 : 0],
    ['patroni_quorum_standby', 'Value is 1 if this node is a quorum standby, 0 otherwise.', replica && syncRole === 'quorum_standby' ? 1 : 0],
    ['patroni_xlog_received_location', 'Current location of the received Postgres transaction log, 0 if this node is not a replica.', 'received_location' in xlog ? num(xlog.received_location) : 0],
    ['patroni_xlog_replayed_location', 'Current location of the replayed Postgres transaction log, 0 if this node is not a replica.', 'replayed_location' in xlog ? num(xlog.replayed_location) : 0],
    ['patroni_xlog_replayed_timestamp', 'Current timestamp of the replayed Postgres transaction log, 0 if null.', Number.isFinite(replayedTs) ? replayedTs : 0],
    ['patroni_xlog_paused', 'Value is 1 if the Postgres xlog is paused, 0 otherwise.', 'paused' in xlog && xlog.paused ? 1 : 0],
    ['patroni_postgres_streaming', 'Value is 1 if Postgres is streaming, 0 otherwise.', st.replication_state === 'streaming' ? 1 : 0],
    ['patroni_postgres_in_archive_recovery', 'Value is 1 if Postgres is replicating from archive, 0 otherwise.', st.replication_state === 'in archive recovery' ? 1 : 0],
    ['patroni_postgres_server_version', 'Version of Postgres (if running), 0 otherwise.', num(st.server_version)],
    ['patroni_cluster_unlocked', 'Value is 1 if the cluster is unlocked, 0 if locked.', st.cluster_unlocked ? 1 : 0],
    ['patroni_failsafe_mode_is_active', 'Value is 1 if failsafe mode is active, 0 if inactive.', st.failsafe_mode_is_active === true ? 1 : 0],
    ['patroni_postgres_timeline', 'Postgres timeline of this node (if running), 0 otherwise.', num(st.timeline)],
    ['patroni_dcs_last_seen', 'Epoch timestamp when DCS was last contacted successfully by Patroni.', num(st.dcs_last_seen)],
    ['patroni_pending_restart', 'Value is 1 if the node needs a restart, 0 otherwise.', st.pending_restart ? 1 : 0],
    ['patroni_is_paused', 'Value is 1 if auto failover is disabled, 0 otherwise.', st.pause ? 1 : 0],
    ['patroni_failsafe_mode_enabled', 'Value is 1 if failsafe mode is enabled, 0 otherwise.', failsafeEnabled ? 1 : 0],
    ['patroni_failsafe_member', 'Value is 1 if this node is a member of failsafe, 0 otherwise.', failsafeMember ? 1 : 0],
    ['patroni_failover_priority', 'Value of the failover priority of this node, 0 if it can not be promoted.', priority],
  ];
  return [...rows.map(([name, help, value]) => gauge(name, help, labels, value)), postgresStateMetric(labels, st.state)].join('\n');
}
