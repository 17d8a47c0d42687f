/**
 * The dashboard's data model: one sample of the cluster (the DCS read, every member's GET
 * /patroni and GET /decisions, the leader's lock renewal age from its GET /metrics) turned into
 * what the page shows, alerts included. Pure functions: collect.ts does the calls, the page
 * only draws. The same rules as `pghactl list` and `explain` (cluster-view.ts, explain.ts) decide
 * roles, lag, readiness and history, so the page and the CLI never disagree.
 */
import { formatLsn, isPaused, synchronousModeOf, type Cluster, type Member } from '@pgha/dcs';
import { failoverReadiness, resolveEngineConfig, type DecisionRecord } from '@pgha/ha-engine';
import { clusterTitle, connParams, listedRole } from '../cluster-view.js';
import { failoverHistory, verdictText } from '../explain.js';
import { listedState } from '../member-positions.js';
import { lagChartData, type LagHistory } from './lag-history.js';

/** What one member's REST API said in this sample. */
export interface MemberProbe {
  name: string;
  /** GET /patroni as JSON; null when it did not answer (then `error` says why). */
  status: Record<string, unknown> | null;
  error: string | null;
  /** GET /decisions records, oldest first; null when the member keeps none (Patroni) or did not answer. */
  decisions: DecisionRecord[] | null;
}

export interface DashboardSample {
  scope: string;
  /** The DCS read; null when it failed (`dcsError` says why). */
  cluster: Cluster | null;
  dcsError: string | null;
  probes: readonly MemberProbe[];
  /** The leader's `pgha_lock_renewal_age_seconds` (null: not reported, e.g. a Patroni leader). */
  lockRenewalAgeS: number | null;
  /** Wall time of the sample, ms. */
  now: number;
}

export type AlertSeverity = 'critical' | 'warning' | 'info';

/** A condition an operator should see; `code` is stable (tests and styles key on it). */
export interface Alert {
  severity: AlertSeverity;
  code: 'dcs-unreadable' | 'no-leader' | 'not-streaming' | 'sync-standby-missing' | 'paused' | 'failover-impossible' | 'api-unreachable' | 'dcs-warning';
  member?: string;
  text: string;
}

export interface MemberRow {
  name: string;
  role: string;
  state: string;
  /** A non-leader's replication state when some API tells it (`streaming`, `in archive recovery`, ...). */
  replication: string | null;
  timeline: number | null;
  host: string;
  /** Bytes behind the leader's last published position; null for the leader or when unknown. */
  lagBytes: number | null;
  /** Replay lag in time from the member's newest decision record, ms. */
  replayLagMs: number | null;
  /** The reason its last HA cycle gave. */
  lastReason: string | null;
  tags: Record<string, unknown>;
  pendingRestart: boolean;
  scheduledRestart: string | null;
  apiError: string | null;
}

export interface LeaderLock {
  name: string;
  ttlS: number;
  renewalAgeS: number | null;
  /** Seconds left on the lock at the sample time, if no renewal came; null when the age is unknown. */
  remainingS: number | null;
}

export interface DecisionRow {
  time: string;
  member: string;
  code: string;
  reason: string;
  /** `member: verdict` per candidate, for a race or a switchover. */
  candidates: { member: string; verdict: string }[];
}

export interface DashboardView {
  scope: string;
  title: string;
  sampledAt: string;
  leader: LeaderLock | null;
  paused: boolean;
  readiness: string | null;
  scheduledSwitchover: { at: string; from: string | null; to: string | null } | null;
  members: MemberRow[];
  history: { timeline: number; lsn: string; reason: string; timestamp: string | null; newLeader: string | null }[];
  /** Failover and switchover records of every member, newest last. */
  decisions: DecisionRow[];
  /** Each member's newest decision record. */
  latest: DecisionRow[];
  alerts: Alert[];
  /** uPlot's data: `[times (s), lag of members[0], ...]`, with the member names in `lagSeries`. */
  lagSeries: string[];
  lagData: (number | null)[][];
}

/** Decision rows the page lists at most. */
export const DECISION_ROWS = 12;

/** Seconds left on a lock renewed `renewalAgeS` ago with time to live `ttlS`, never below 0. */
export function lockRemaining(ttlS: number, renewalAgeS: number | null): number | null {
  if (renewalAgeS === null) return null;
  return Math.max(0, ttlS - renewalAgeS);
}

/** `pgha_lock_renewal_age_seconds` from a /metrics text; null when absent or -1 (never renewed). */
export function lockRenewalAge(metrics: string): number | null {
  const m = /^pgha_lock_renewal_age_seconds(?:\{[^}]*\})? (\S+)$/m.exec(metrics);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isFinite(v) && v >= 0 ? v : null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * A non-leader's replication state: its own API's `replication_state`, else its member key's,
 * else the leader's `replication` row for it (Patroni 3.0 replicas report none themselves).
 */
export function replicationStateOf(member: Member, probe: MemberProbe | undefined, leaderProbe: MemberProbe | undefined): string | null {
  const own = str(probe?.status?.['replication_state']) ?? str(member.data.replication_state);
  if (own) return own;
  const rows = leaderProbe?.status?.['replication'];
  if (!Array.isArray(rows)) return null;
  const row = rows.find((r) => typeof r === 'object' && r !== null && (r as Record<string, unknown>)['application_name'] === member.name) as Record<string, unknown> | undefined;
  return str(row?.['state']);
}

function connParamsText(m: Member): string {
  const conn = connParams(m);
  return conn ? `${conn.host}:${conn.port}` : '';
}

function decisionRow(member: string, record: DecisionRecord): DecisionRow {
  return {
    time: record.time,
    member,
    code: record.code,
    reason: record.reason,
    candidates: (record.candidates ?? []).map((v) => ({ member: v.member, verdict: verdictText(v) })),
  };
}

function memberRow(cluster: Cluster, m: Member, probe: MemberProbe | undefined, leaderProbe: MemberProbe | undefined): MemberRow {
  const isLeader = cluster.leader?.name === m.name;
  const optime = cluster.status?.value.optime ?? 0;
  const pos = m.data.xlog_location;
  const replication = isLeader ? null : replicationStateOf(m, probe, leaderProbe);
  const newest = probe?.decisions?.at(-1);
  const scheduled = m.data.scheduled_restart;
  return {
    name: m.name,
    role: listedRole(cluster, m),
    state: replication ?? listedState(cluster, m),
    replication,
    timeline: m.data.timeline ?? null,
    host: connParamsText(m),
    lagBytes: isLeader || pos === undefined ? null : Math.max(0, optime - pos),
    replayLagMs: newest?.facts.replayLagMs ?? null,
    lastReason: str(probe?.status?.['last_reason']) ?? newest?.reason ?? null,
    tags: m.data.tags,
    pendingRestart: m.data.pending_restart === true,
    scheduledRestart: scheduled && typeof scheduled.schedule === 'string' ? scheduled.schedule : null,
    apiError: probe?.error ?? null,
  };
}

/** The member rows of a sample (none when the DCS could not be read). */
export function memberRows(sample: DashboardSample): MemberRow[] {
  const { cluster } = sample;
  if (!cluster) return [];
  const probeOf = (name: string) => sample.probes.find((p) => p.name === name);
  const leader = cluster.leader ? probeOf(cluster.leader.name) : undefined;
  return cluster.members.map((m) => memberRow(cluster, m, probeOf(m.name), leader));
}

/** Each member's lag for the chart: the leader at 0, so a line goes on across a switchover. */
export function lagsOf(rows: readonly MemberRow[]): Record<string, number | null> {
  return Object.fromEntries(rows.map((r) => [r.name, r.role.endsWith('leader') ? 0 : r.lagBytes]));
}

/** The alerts of a sample, the most severe first. */
export function alertsOf(sample: DashboardSample, rows: readonly MemberRow[]): Alert[] {
  const { cluster } = sample;
  if (!cluster) return [{ severity: 'critical', code: 'dcs-unreadable', text: `cannot read the DCS: ${sample.dcsError ?? 'no answer'}` }];
  const alerts: Alert[] = [];
  const paused = isPaused(cluster);
  if (!cluster.leader && cluster.initialize !== null) {
    alerts.push({ severity: 'critical', code: 'no-leader', text: paused ? 'no leader: the leader lock is free, and maintenance mode keeps every member from taking it' : 'no leader: the leader lock is free' });
  }
  if (cluster.leader) {
    for (const r of rows) {
      // Unknown is not "not streaming": a running member whose API is down gets its own alert.
      if (r.role.endsWith('leader') || r.state === 'streaming' || (r.replication === null && r.state === 'running')) continue;
      alerts.push({ severity: 'warning', code: 'not-streaming', member: r.name, text: `${r.name} is not streaming from the leader (state: ${r.state || 'unknown'})` });
    }
  }
  const mode = synchronousModeOf(cluster.config?.value['synchronous_mode']);
  if (cluster.leader && (mode === 'on' || mode === 'quorum')) {
    const known = new Set(cluster.members.map((m) => m.name));
    const standbys = (cluster.sync?.value.sync_standby ?? []).filter((s) => known.has(s) && s !== cluster.leader?.name);
    if (standbys.length === 0) {
      alerts.push({ severity: 'warning', code: 'sync-standby-missing', text: `synchronous_mode is ${mode} but no synchronous standby is published: a failover could lose acknowledged commits, so none happens` });
    }
  }
  const { config } = resolveEngineConfig(cluster.config?.value);
  const readiness = failoverReadiness(cluster, config);
  if (cluster.leader && !paused && !readiness.possible) {
    alerts.push({ severity: 'warning', code: 'failover-impossible', text: `automatic failover not possible: ${readiness.reason}` });
  }
  for (const r of rows) if (r.apiError) alerts.push({ severity: 'warning', code: 'api-unreachable', member: r.name, text: `${r.name}: REST API not answering: ${r.apiError}` });
  if (paused) alerts.push({ severity: 'info', code: 'paused', text: 'maintenance mode is on: no automatic failover' });
  for (const w of cluster.warnings) alerts.push({ severity: 'info', code: 'dcs-warning', text: w });
  return alerts;
}

/** The page's view of one sample; `lag` is the lag history including this sample. */
export function dashboardView(sample: DashboardSample, lag: LagHistory): DashboardView {
  const { cluster } = sample;
  const leaderName = cluster?.leader?.name ?? null;
  const rows = memberRows(sample);
  const ttl = resolveEngineConfig(cluster?.config?.value).config.ttl;
  const failover = cluster?.failover?.value;
  const byMember = sample.probes.map((p) => ({ member: p.name, records: p.decisions ?? [] }));
  const chart = lagChartData(lag);
  return {
    scope: sample.scope,
    title: cluster ? clusterTitle(sample.scope, cluster).trim() : `Cluster: ${sample.scope}`,
    sampledAt: new Date(sample.now).toISOString(),
    leader: leaderName ? { name: leaderName, ttlS: ttl, renewalAgeS: sample.lockRenewalAgeS, remainingS: lockRemaining(ttl, sample.lockRenewalAgeS) } : null,
    paused: cluster ? isPaused(cluster) : false,
    readiness: cluster?.leader ? failoverReadiness(cluster, resolveEngineConfig(cluster.config?.value).config).reason : null,
    scheduledSwitchover: failover?.scheduled_at ? { at: failover.scheduled_at, from: failover.leader ?? null, to: failover.member ?? null } : null,
    members: rows,
    history: (cluster?.history?.value ?? []).map((h) => ({ timeline: h.timeline, lsn: formatLsn(h.lsn), reason: h.reason, timestamp: h.timestamp ?? null, newLeader: h.new_leader ?? null })),
    decisions: failoverHistory(byMember, DECISION_ROWS).map((r) => decisionRow(r.member, r.record)),
    latest: byMember.flatMap(({ member, records }) => {
      const newest = records.at(-1);
      return newest ? [decisionRow(member, newest)] : [];
    }),
    alerts: alertsOf(sample, rows),
    lagSeries: chart.series,
    lagData: chart.data,
  };
}
