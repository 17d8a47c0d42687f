// The leader lock is free: who races, who promotes, who follows; and manual failover when the
// failover key names a candidate.
import { describe, expect, it } from 'vitest';
import type { PeerStatus, Snapshot } from '../src/index.js';
import { decide, evaluateLeaderRace } from '../src/index.js';
import {
  actionOf,
  clusterWithLeader,
  member,
  peer,
  runningPrimary,
  runningReplica,
  snapshot,
  summary,
  unlockedCluster,
} from './fixtures/snapshots.js';

/** pg1 decides with the lock free and the given probe results. */
function race(peers: PeerStatus[] | null, overrides: Partial<Snapshot> = {}): ReturnType<typeof decide> {
  return decide(snapshot({ cluster: unlockedCluster(), local: runningReplica({ following: 'pg0', streaming: false }), peers, ...overrides }));
}

const promoted = {
  rule: 'lock-free',
  reason: 'promoted self to leader by acquiring session lock',
  actions: ['acquire_lock', 'activate_watchdog', 'promote'],
};

describe('probe phase', () => {
  it('asks every other member with an API for its position first', () => {
    const d = race(null);
    expect(summary(d)).toEqual({
      rule: 'lock-free',
      reason: 'asking the other members for their WAL positions before the leader race',
      actions: ['probe_peers(pg0,pg2)'],
    });
    expect(actionOf(d, 'probe_peers').members).toEqual([
      { name: 'pg0', apiUrl: 'http://pg0:8008/patroni' },
      { name: 'pg2', apiUrl: 'http://pg2:8008/patroni' },
    ]);
  });

  it('does not probe when it already knows it is not a candidate', () => {
    const cluster = unlockedCluster({ optime: 100_000_000 });
    expect(summary(race(null, { cluster })).actions).toEqual([]);
  });

  it('a lone member races without probing', () => {
    const cluster = unlockedCluster({ members: [member('pg1')] });
    expect(summary(race(null, { cluster }))).toEqual(promoted);
  });
});

describe('the healthiest replica promotes', () => {
  it('when nobody is ahead (the dead leader is unreachable)', () => {
    const d = race([peer('pg0', { reachable: false }), peer('pg2', { walPosition: 1000 })]);
    expect(summary(d)).toEqual(promoted);
    expect(actionOf(d, 'acquire_lock').otherwise?.reason).toBe('following new leader after trying and failing to obtain lock');
    expect(actionOf(d, 'acquire_lock').onError?.reason).toBe('DCS is not accessible');
  });

  it('when level with another member of equal priority', () => {
    expect(summary(race([peer('pg0', { reachable: false }), peer('pg2')]))).toEqual(promoted);
  });

  it('skips members that may not promote or lack a watchdog', () => {
    const d = race([
      peer('pg0', { reachable: false }),
      peer('pg2', { walPosition: 99_999_999, tags: { nofailover: true } }),
    ]);
    expect(summary(d)).toEqual(promoted);
    const d2 = race([peer('pg0', { reachable: false }), peer('pg2', { walPosition: 99_999_999, watchdogFailed: true })]);
    expect(summary(d2)).toEqual(promoted);
    expect(d2.notes).toContain('Member pg2 is not watchdog capable');
  });

  it('clears the failover key after winning a manual failover, once the promotion has started', () => {
    const cluster = unlockedCluster({ failover: { member: 'pg1' } });
    const d = race(null, { cluster });
    // Nothing DCS-bound sits between taking the lock and starting the promotion.
    expect(summary(d).actions).toEqual(['acquire_lock', 'activate_watchdog', 'promote', 'clear_failover']);
  });

  it('still clears the failover key when the watchdog cannot be activated', () => {
    const cluster = unlockedCluster({ failover: { member: 'pg1' } });
    const d = race(null, { cluster });
    const fallback = actionOf(d, 'activate_watchdog').otherwise;
    expect(fallback?.reason).toBe('Not promoting self because watchdog could not be activated');
    expect(fallback?.actions.map((a) => a.kind)).toEqual(['release_lock', 'clear_failover']);
  });

  it('without a failover key, a failed watchdog only releases the lock', () => {
    const d = race([peer('pg0', { reachable: false }), peer('pg2', { walPosition: 1000 })]);
    expect(actionOf(d, 'activate_watchdog').otherwise?.actions.map((a) => a.kind)).toEqual(['release_lock']);
  });
});

describe('others follow', () => {
  const notHealthiest = { rule: 'lock-free', reason: 'following a different leader because i am not the healthiest node', actions: [] };

  it('when a member is ahead', () => {
    const d = race([peer('pg0', { reachable: false }), peer('pg2', { walPosition: 60_000_000 })]);
    expect(summary(d)).toEqual(notHealthiest);
    expect(d.notes).toContain('Wal position of pg2 is ahead of my wal position');
  });

  it('when the old primary still answers as primary', () => {
    const d = race([peer('pg0', { inRecovery: false }), peer('pg2')]);
    expect(summary(d)).toEqual(notHealthiest);
    expect(d.notes).toContain('Primary (pg0) is still alive');
  });

  it('when level with a member of higher failover_priority', () => {
    const d = race([peer('pg0', { reachable: false }), peer('pg2', { tags: { failover_priority: 5 } })]);
    expect(summary(d)).toEqual(notHealthiest);
  });

  it('when lagging more than maximum_lag_on_failover behind the last known primary position', () => {
    const d = race(null, { cluster: unlockedCluster({ optime: 50_331_648 + 1_048_577 }) });
    expect(summary(d)).toEqual(notHealthiest);
    expect(d.notes).toEqual(['My wal position exceeds maximum replication lag']);
  });

  it('when behind the cluster timeline with check_timeline', () => {
    const s = snapshot({
      cluster: unlockedCluster({ history: [{ timeline: 1, lsn: 100, reason: 'x' }, { timeline: 2, lsn: 200, reason: 'y' }] }),
      local: runningReplica({ timeline: 2 }),
    });
    const d = decide({ ...s, config: { ...s.config, checkTimeline: true } });
    expect(summary(d)).toEqual(notHealthiest);
    expect(d.notes).toEqual(['My timeline 2 is behind last known cluster timeline 3']);
  });

  it('when tagged nofailover (with its own sentence)', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { nofailover: true }, version: 'v' };
    const d = race(null, { me });
    expect(summary(d)).toEqual({ rule: 'lock-free', reason: 'following a different leader because I am not allowed to promote', actions: [] });
  });

  it('failover_priority 0 means nofailover', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { failover_priority: 0 }, version: 'v' };
    expect(race(null, { me }).reason).toBe('following a different leader because I am not allowed to promote');
  });

  it('when the watchdog is required but unusable', () => {
    const d = race([peer('pg0', { reachable: false })], { watchdogHealthy: false });
    expect(d.notes).toEqual(['Watchdog device is not usable']);
    expect(d.reason).toBe('following a different leader because i am not the healthiest node');
  });

  it('while PostgreSQL is still starting', () => {
    const d = race(null, { local: runningReplica({ state: 'starting' }) });
    expect(summary(d)).toEqual(notHealthiest);
  });
});

describe('a primary without the lock', () => {
  it('takes the free lock back', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: unlockedCluster(), local: runningPrimary() }));
    expect(summary(d)).toEqual({ rule: 'lock-free', reason: 'acquired session lock as a leader', actions: ['acquire_lock', 'activate_watchdog'] });
    const acquire = actionOf(d, 'acquire_lock');
    expect(acquire.otherwise).toMatchObject({ reason: 'demoted self after trying and failing to obtain lock', actions: [{ kind: 'demote', mode: 'immediate-nolock' }] });
    expect(acquire.onError).toMatchObject({ reason: 'demoting self because DCS is not accessible and I was a leader', actions: [{ kind: 'demote', mode: 'offline' }] });
  });

  it('demotes when its timeline is behind the cluster (a newer primary existed)', () => {
    const cluster = unlockedCluster({ history: [{ timeline: 1, lsn: 100, reason: 'x' }] });
    const d = decide(snapshot({ me: 'pg0', cluster, local: runningPrimary({ timeline: 1 }) }));
    expect(summary(d)).toEqual({ rule: 'lock-free', reason: 'demoting self because i am not the healthiest node', actions: ['demote(immediate-nolock)'] });
  });
});

describe('manual failover and switchover without a leader', () => {
  it('the named candidate races', () => {
    const cluster = unlockedCluster({ failover: { leader: 'pg0', member: 'pg1' } });
    expect(summary(race(null, { cluster })).actions).toEqual(['acquire_lock', 'activate_watchdog', 'promote', 'clear_failover']);
  });

  it('others stand back while the candidate is healthy', () => {
    const cluster = unlockedCluster({ failover: { leader: 'pg0', member: 'pg2' } });
    const d = race([peer('pg0'), peer('pg2')], { cluster });
    expect(d.reason).toBe('following a different leader because i am not the healthiest node');
    expect(d.notes).toEqual(['manual failover: to pg2, i am pg1']);
  });

  it('others race when the candidate is gone', () => {
    const cluster = unlockedCluster({ failover: { leader: 'pg0', member: 'pg2' } });
    const d = race([peer('pg0'), peer('pg2', { reachable: false })], { cluster });
    expect(summary(d).actions).toEqual(['acquire_lock', 'activate_watchdog', 'promote', 'clear_failover']);
    expect(d.notes).toContain('manual failover: member pg2 is not reachable');
  });

  it('the former leader stands back while someone else can take over', () => {
    const cluster = unlockedCluster({ failover: { leader: 'pg1', member: 'pg2' } });
    const d = race([peer('pg0'), peer('pg2', { reachable: false })], { cluster });
    expect(d.reason).toBe('following a different leader because i am not the healthiest node');
  });

  it('the former leader takes the lock back when nobody else can', () => {
    const cluster = unlockedCluster({ failover: { leader: 'pg1', member: 'pg2' } });
    const d = race([peer('pg0', { reachable: false }), peer('pg2', { reachable: false })], { cluster });
    expect(summary(d).actions[0]).toBe('acquire_lock');
  });

  it('ignores replication lag (the operator chose)', () => {
    const cluster = unlockedCluster({ failover: { member: 'pg1' }, optime: 999_999_999 });
    expect(summary(race(null, { cluster })).actions[0]).toBe('acquire_lock');
  });
});

describe('candidate rules, as exported for tools', () => {
  it('evaluateLeaderRace answers yes, no or probe', () => {
    const base = { me: { name: 'pg1', tags: {} }, local: runningReplica(), config: { maximumLagOnFailover: 1_048_576, checkTimeline: false }, watchdogHealthy: true };
    expect(evaluateLeaderRace({ ...base, cluster: unlockedCluster(), peers: null }).kind).toBe('probe');
    expect(evaluateLeaderRace({ ...base, cluster: unlockedCluster(), peers: [peer('pg0', { reachable: false }), peer('pg2')] }).kind).toBe('yes');
    expect(evaluateLeaderRace({ ...base, cluster: clusterWithLeader(), peers: [peer('pg0', { inRecovery: false })] }).kind).toBe('no');
  });
});
