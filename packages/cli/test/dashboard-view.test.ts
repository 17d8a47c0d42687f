// The dashboard's data model (issue #18): a sample of the cluster (fake DCS keys, fake member API
// answers) turned into the page's view: roles, lag, the lock countdown, decisions, alerts.
import { describe, expect, it } from 'vitest';
import { decodeCluster, type Cluster } from '@pgha/dcs';
import type { DecisionRecord } from '@pgha/ha-engine';
import { emptyLagHistory, lagChartData, recordLag } from '../src/dashboard/lag-history.ts';
import { dashboardView, lagsOf, lockRemaining, lockRenewalAge, memberRows, type DashboardSample, type MemberProbe } from '../src/dashboard/view.ts';

const OPTIME = 50_000_000;
const NOW = Date.parse('2026-01-01T00:01:00.000Z');

function member(name: string, port: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: `http://127.0.0.1:${port + 1000}/patroni`, state: 'running', role: 'replica', timeline: 2, version: '3.0.2', xlog_location: OPTIME, ...extra });
}

/** A decoded cluster from raw key values, as a driver would load them. */
function clusterOf(keys: Record<string, string>): Cluster {
  return decodeCluster({ nodes: new Map(Object.entries(keys).map(([k, value]) => [k, { value, version: '1' }])) });
}

const healthyKeys = (): Record<string, string> => ({
  initialize: '7300000000000000001',
  config: JSON.stringify({ ttl: 10, loop_wait: 1 }),
  leader: 'pg0',
  status: JSON.stringify({ optime: OPTIME }),
  history: JSON.stringify([[1, 25_000_000, 'no recovery target specified', '2026-01-01T00:00:30.000Z', 'pg0']]),
  'members/pg0': member('pg0', 5432, { role: 'primary' }),
  'members/pg1': member('pg1', 5433, { xlog_location: OPTIME - 3_000 }),
  'members/pg2': member('pg2', 5434),
});

const record = (time: string, code: string, reason: string, extra: Partial<DecisionRecord> = {}): DecisionRecord =>
  ({ time, count: 1, rule: 'x', code, reason, actions: [], notes: [], facts: { replayLagMs: null }, ...extra }) as unknown as DecisionRecord;

const streaming = (name: string, decisions: DecisionRecord[] | null = []): MemberProbe => ({ name, status: { state: 'running', role: 'replica', replication_state: 'streaming' }, error: null, decisions });

function sample(cluster: Cluster | null, probes: MemberProbe[], extra: Partial<DashboardSample> = {}): DashboardSample {
  return { scope: 'demo', cluster, dcsError: null, probes, lockRenewalAgeS: 0.4, now: NOW, ...extra };
}

const healthyProbes = (): MemberProbe[] => [{ name: 'pg0', status: { state: 'running', role: 'primary' }, error: null, decisions: [] }, streaming('pg1'), streaming('pg2')];
const view = (s: DashboardSample) => dashboardView(s, emptyLagHistory());

describe('dashboard view', () => {
  it('a healthy cluster: the leader, roles, lag in bytes, host:port, the lock countdown, no alerts', () => {
    const v = view(sample(clusterOf(healthyKeys()), healthyProbes()));
    expect(v.title).toBe('Cluster: demo (7300000000000000001)');
    expect(v.leader).toEqual({ name: 'pg0', ttlS: 10, renewalAgeS: 0.4, remainingS: 9.6 });
    expect(v.members.map((m) => [m.name, m.role, m.state, m.host, m.lagBytes, m.timeline])).toEqual([
      ['pg0', 'leader', 'running', '127.0.0.1:5432', null, 2],
      ['pg1', 'replica', 'streaming', '127.0.0.1:5433', 3_000, 2],
      ['pg2', 'replica', 'streaming', '127.0.0.1:5434', 0, 2],
    ]);
    expect(v.history).toEqual([{ timeline: 1, lsn: '0/17D7840', reason: 'no recovery target specified', timestamp: '2026-01-01T00:00:30.000Z', newLeader: 'pg0' }]);
    expect(v.alerts).toEqual([]);
    expect(v.paused).toBe(false);
    expect(v.readiness).toBe('pg1, pg2 could take over');
  });

  it('the lock countdown never goes below 0 and is unknown without a reported renewal age', () => {
    expect(lockRemaining(10, 12.5)).toBe(0);
    expect(lockRemaining(10, 2.5)).toBe(7.5);
    expect(lockRemaining(10, null)).toBeNull();
    const v = view(sample(clusterOf(healthyKeys()), healthyProbes(), { lockRenewalAgeS: null }));
    expect(v.leader?.remainingS).toBeNull();
  });

  it('reads the lock renewal age from the leader /metrics; -1 (never renewed) and absence are unknown', () => {
    const metrics = (v: string) => `# HELP x\npgha_decisions_total{scope="demo",name="pg0",code="leader.renewed"} 4\npgha_lock_renewal_age_seconds{scope="demo",name="pg0"} ${v}\n`;
    expect(lockRenewalAge(metrics('0.731'))).toBe(0.731);
    expect(lockRenewalAge(metrics('-1'))).toBeNull();
    expect(lockRenewalAge('patroni_postgres_running{scope="demo"} 1\n')).toBeNull();
  });

  it('no leader: a critical alert, and the not-streaming alerts stay out of it', () => {
    const keys = healthyKeys();
    delete keys['leader'];
    const v = view(sample(clusterOf(keys), [streaming('pg0'), { name: 'pg1', status: { state: 'running', role: 'replica' }, error: null, decisions: [] }, streaming('pg2')]));
    expect(v.leader).toBeNull();
    expect(v.alerts.map((a) => [a.severity, a.code])).toEqual([['critical', 'no-leader']]);
    expect(v.alerts[0]?.text).toBe('no leader: the leader lock is free');
  });

  it('a replica not streaming: a warning naming it, with the state it is in', () => {
    const keys = { ...healthyKeys(), 'members/pg2': member('pg2', 5434, { state: 'stopped' }) };
    const probes = [...healthyProbes().slice(0, 2), { name: 'pg2', status: { state: 'stopped', role: 'replica' }, error: null, decisions: [] }];
    const v = view(sample(clusterOf(keys), probes));
    expect(v.alerts.filter((a) => a.code === 'not-streaming')).toEqual([{ severity: 'warning', code: 'not-streaming', member: 'pg2', text: 'pg2 is not streaming from the leader (state: stopped)' }]);
  });

  it("a Patroni 3.0 replica reports no replication state: the leader's replication row tells", () => {
    const probes: MemberProbe[] = [
      { name: 'pg0', status: { role: 'master', replication: [{ application_name: 'pg1', state: 'streaming' }, { application_name: 'pg2', state: 'catchup' }] }, error: null, decisions: null },
      { name: 'pg1', status: { role: 'replica' }, error: null, decisions: null },
      { name: 'pg2', status: { role: 'replica' }, error: null, decisions: null },
    ];
    const rows = memberRows(sample(clusterOf(healthyKeys()), probes));
    expect(rows.map((r) => [r.name, r.state])).toEqual([['pg0', 'running'], ['pg1', 'streaming'], ['pg2', 'catchup']]);
  });

  it('synchronous mode with no synchronous standby published: an alert (and failover is not possible)', () => {
    const keys = { ...healthyKeys(), config: JSON.stringify({ ttl: 10, synchronous_mode: true }), sync: JSON.stringify({ leader: 'pg0', sync_standby: null }) };
    const v = view(sample(clusterOf(keys), healthyProbes()));
    expect(v.alerts.map((a) => a.code)).toEqual(['sync-standby-missing', 'failover-impossible']);
    const withStandby = { ...keys, sync: JSON.stringify({ leader: 'pg0', sync_standby: 'pg1' }) };
    const ok = view(sample(clusterOf(withStandby), healthyProbes()));
    expect(ok.alerts).toEqual([]);
    expect(ok.members.find((m) => m.name === 'pg1')?.role).toBe('sync_standby');
  });

  it('paused, with a scheduled switchover: an info alert and both shown', () => {
    const keys = { ...healthyKeys(), config: JSON.stringify({ ttl: 10, pause: true }), failover: JSON.stringify({ leader: 'pg0', member: 'pg2', scheduled_at: '2026-01-01T01:00:00+00:00' }) };
    const v = view(sample(clusterOf(keys), healthyProbes()));
    expect(v.paused).toBe(true);
    expect(v.scheduledSwitchover).toEqual({ at: '2026-01-01T01:00:00+00:00', from: 'pg0', to: 'pg2' });
    expect(v.alerts).toEqual([{ severity: 'info', code: 'paused', text: 'maintenance mode is on: no automatic failover' }]);
  });

  it('a member whose API does not answer, and a DCS that cannot be read', () => {
    const probes = [...healthyProbes().slice(0, 2), { name: 'pg2', status: null, error: 'connect ECONNREFUSED 127.0.0.1:6434', decisions: null }];
    const v = view(sample(clusterOf(healthyKeys()), probes));
    expect(v.members.find((m) => m.name === 'pg2')?.apiError).toBe('connect ECONNREFUSED 127.0.0.1:6434');
    // Its member key says running and nobody tells its replication state: the API failure is the alert.
    expect(v.alerts.map((a) => [a.code, a.member])).toEqual([['api-unreachable', 'pg2']]);
    const dead = view(sample(null, [], { dcsError: 'DCS error while reading cluster demo: no answer within 3 s' }));
    expect(dead.alerts).toEqual([{ severity: 'critical', code: 'dcs-unreadable', text: 'cannot read the DCS: DCS error while reading cluster demo: no answer within 3 s' }]);
    expect(dead.members).toEqual([]);
    expect(dead.leader).toBeNull();
  });

  it("decisions: every member's newest, and the failover records with their candidate verdicts, oldest first", () => {
    const won = record('2026-01-01T00:00:31.000Z', 'race.won', 'promoted self to leader by acquiring session lock', {
      candidates: [{ member: 'pg0', verdict: 'chosen', gate: null, detail: null }, { member: 'pg1', verdict: 'excluded', gate: 'nofailover', detail: 'I am not allowed to promote' }],
    } as Partial<DecisionRecord>);
    const demoting = record('2026-01-01T00:00:30.000Z', 'switchover.demoting', 'switchover: demoting myself');
    const steady = (name: string) => record('2026-01-01T00:00:59.000Z', 'leader.renewed', `no action. I am (${name}), the leader with the lock`, { facts: { replayLagMs: 12 } } as Partial<DecisionRecord>);
    const probes = [{ ...healthyProbes()[0]!, decisions: [won, steady('pg0')] }, streaming('pg1', [demoting]), streaming('pg2', null)];
    const v = view(sample(clusterOf(healthyKeys()), probes));
    expect(v.decisions.map((d) => [d.member, d.code, d.candidates])).toEqual([
      ['pg1', 'switchover.demoting', []],
      ['pg0', 'race.won', [{ member: 'pg0', verdict: 'chosen' }, { member: 'pg1', verdict: 'excluded: nofailover (I am not allowed to promote)' }]],
    ]);
    expect(v.latest.map((d) => [d.member, d.code])).toEqual([['pg0', 'leader.renewed'], ['pg1', 'switchover.demoting']]);
    expect(v.members[0]?.replayLagMs).toBe(12);
    expect(v.members[0]?.lastReason).toBe('no action. I am (pg0), the leader with the lock');
  });
});

describe('lag history', () => {
  it('keeps the newest samples up to its capacity; the leader counts as 0', () => {
    let h = emptyLagHistory(2);
    const rows = memberRows(sample(clusterOf(healthyKeys()), healthyProbes()));
    expect(lagsOf(rows)).toEqual({ pg0: 0, pg1: 3_000, pg2: 0 });
    h = recordLag(h, { at: 1000, lags: { pg0: 0, pg1: 5 } });
    h = recordLag(h, { at: 2000, lags: { pg0: 0, pg1: 7 } });
    h = recordLag(h, { at: 3000, lags: { pg0: 0, pg1: 9, pg2: 1 } });
    expect(h.samples.map((s) => s.at)).toEqual([2000, 3000]);
    // uPlot's columns: seconds, then one per member by name; a member missing from a sample is a gap.
    expect(lagChartData(h)).toEqual({ series: ['pg0', 'pg1', 'pg2'], data: [[2, 3], [0, 0], [7, 9], [null, 1]] });
  });

  it('the view carries the chart data of the history it is given', () => {
    const h = recordLag(emptyLagHistory(), { at: NOW, lags: { pg0: 0, pg1: 3_000 } });
    const v = dashboardView(sample(clusterOf(healthyKeys()), healthyProbes()), h);
    expect(v.lagSeries).toEqual(['pg0', 'pg1']);
    expect(v.lagData).toEqual([[NOW / 1000], [0], [3_000]]);
  });
});
