// Failsafe mode (issue #9): a primary cut off from the DCS keeps running while every member
// acknowledges it; a replica that acknowledged follows it and stays out of leader races.
import type { Failsafe } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import type { FailsafeCheck, Snapshot } from '../src/index.js';
import { decide } from '../src/index.js';
import { actionOf, clusterWithLeader, config, leaderSnapshot, NOW, runningPrimary, snapshot, summary, unlockedCluster } from './fixtures/snapshots.js';

const failsafeOn = config({ failsafe_mode: true });
const TOPOLOGY: Failsafe = { pg0: 'http://pg0:8008/patroni', pg1: 'http://pg1:8008/patroni', pg2: 'http://pg2:8008/patroni' };

/** pg0, the primary holding the lock, whose DCS read just failed; its lease runs out at `validUntil`. */
function cutOff(overrides: Partial<Snapshot> = {}, validUntil = NOW + 20_000): Snapshot {
  return leaderSnapshot({
    cluster: { error: 'etcd: connection refused', failsafe: TOPOLOGY },
    config: failsafeOn,
    lock: { held: true, validUntil },
    ...overrides,
  });
}

function acks(accepted: Record<string, boolean>, startedAt = NOW - 500): FailsafeCheck {
  return {
    startedAt,
    acks: Object.entries(accepted).map(([name, ok]) => (ok ? { name, accepted: true } : { name, accepted: false, error: 'connection refused' })),
  };
}

describe('failsafe mode, the primary cut off from the DCS', () => {
  it('first asks every other member of the topology to acknowledge it', () => {
    const d = decide(cutOff());
    expect(summary(d)).toEqual({
      rule: 'dcs-unavailable',
      reason: 'DCS is not accessible; checking the failsafe topology',
      actions: ['failsafe_check(pg1,pg2)'],
    });
    expect(actionOf(d, 'failsafe_check').members).toEqual([
      { name: 'pg1', apiUrl: 'http://pg1:8008/patroni' },
      { name: 'pg2', apiUrl: 'http://pg2:8008/patroni' },
    ]);
  });

  it('all members acknowledge: keeps running as primary for ttl after the round began, even past the lease', () => {
    const d = decide(cutOff({ failsafeCheck: acks({ pg1: true, pg2: true }) }, NOW - 1));
    expect(summary(d)).toEqual({
      rule: 'dcs-unavailable',
      reason: 'continue to run as a leader because failsafe mode is enabled and all members are accessible',
      actions: ['failsafe_hold'],
    });
    expect(actionOf(d, 'failsafe_hold').validUntil).toBe(NOW - 500 + 30_000);
  });

  it('one member missing: demotes once the lease is over, as without failsafe mode', () => {
    const d = decide(cutOff({ failsafeCheck: acks({ pg1: true, pg2: false }) }, NOW - 1));
    expect(summary(d)).toEqual({
      rule: 'dcs-unavailable',
      reason: 'demoting self because DCS is not accessible and I was a leader',
      actions: ['demote(offline)'],
    });
    expect(d.notes).toContain('failsafe mode: not acknowledged by pg2 (connection refused)');
  });

  it('one member missing while the lease is still valid: runs on until the lease ends', () => {
    const d = decide(cutOff({ failsafeCheck: acks({ pg1: false, pg2: true }) }));
    expect(d.reason).toBe('DCS is not accessible; continue to run as a leader while the leader lock is valid (15 seconds left)');
    expect(d.actions).toEqual([]);
  });

  it('an answer that never came counts as missing', () => {
    const d = decide(cutOff({ failsafeCheck: acks({ pg1: true }) }, NOW - 1));
    expect(d.actions.map((a) => a.kind)).toEqual(['demote']);
    expect(d.notes).toContain('failsafe mode: not acknowledged by pg2 (no answer)');
  });

  it('a primary missing from the topology, or never shown one, does not rely on it', () => {
    const notListed = decide(cutOff({ cluster: { error: 'down', failsafe: { pg1: TOPOLOGY['pg1'] as string } } }, NOW - 1));
    expect(notListed.actions.map((a) => a.kind)).toEqual(['demote']);
    expect(notListed.notes).toContain('failsafe mode: pg0 is not in the failsafe topology');
    expect(decide(cutOff({ cluster: { error: 'down' } }, NOW - 1)).actions.map((a) => a.kind)).toEqual(['demote']);
  });

  it('a lone member keeps running without asking anyone', () => {
    const d = decide(cutOff({ cluster: { error: 'down', failsafe: { pg0: TOPOLOGY['pg0'] as string } } }, NOW - 1));
    expect(summary(d).actions).toEqual(['failsafe_hold']);
    expect(actionOf(d, 'failsafe_hold').validUntil).toBe(NOW + 30_000);
  });

  it('without failsafe mode nothing is asked: the primary demotes when its lease is over', () => {
    const d = decide(cutOff({ config: config(), failsafeCheck: acks({ pg1: true, pg2: true }) }, NOW - 1));
    expect(summary(d).actions).toEqual(['demote(offline)']);
  });

  it('a primary that does not hold the lock is not kept by failsafe mode', () => {
    const d = decide(cutOff({ lock: { held: false, validUntil: null }, failsafeCheck: acks({ pg1: true, pg2: true }) }));
    expect(summary(d).actions).toEqual(['demote(offline)']);
  });
});

describe('failsafe mode, replicas', () => {
  const ping = { name: 'pg0', connUrl: 'postgres://pg0:5432/postgres', apiUrl: 'http://pg0:8008/patroni', receivedAt: NOW - 5_000 };

  it('a replica that acknowledged the primary within ttl follows it instead of racing for a free lock', () => {
    const d = decide(snapshot({ cluster: unlockedCluster(), config: failsafeOn, failsafePing: ping }));
    expect(summary(d)).toEqual({
      rule: 'follower',
      reason: 'no action. I am (pg1), a secondary, and following a leader (pg0)',
      actions: [],
    });
  });

  it('it follows the pinging primary even when that primary’s member key has expired', () => {
    const d = decide(
      snapshot({ cluster: unlockedCluster({ members: clusterWithLeader().members.filter((m) => m.name !== 'pg0') }), config: failsafeOn, failsafePing: ping }),
    );
    expect(d.rule).toBe('follower');
    expect(d.actions.filter((a) => a.kind === 'acquire_lock' || a.kind === 'promote')).toEqual([]);
  });

  it('an acknowledgement older than ttl no longer counts: the replica races as usual', () => {
    const d = decide(snapshot({ cluster: unlockedCluster(), config: failsafeOn, failsafePing: { ...ping, receivedAt: NOW - 30_000 } }));
    expect(d.rule).toBe('lock-free');
  });

  it('without failsafe mode a ping is ignored', () => {
    expect(decide(snapshot({ cluster: unlockedCluster(), failsafePing: ping })).rule).toBe('lock-free');
  });

  it('a replica cut off from the DCS never promotes', () => {
    const d = decide(snapshot({ cluster: { error: 'down', failsafe: TOPOLOGY }, config: failsafeOn, failsafePing: ping }));
    expect(summary(d)).toEqual({ rule: 'dcs-unavailable', reason: 'DCS is not accessible', actions: [] });
  });
});

describe('failsafe mode, publishing the topology', () => {
  it('the leader writes the failsafe key after renewing when it is missing', () => {
    const d = decide(leaderSnapshot({ config: failsafeOn }));
    expect(summary(d).actions).toEqual(['renew_lock', 'write_failsafe(pg0,pg1,pg2)']);
    expect(actionOf(d, 'write_failsafe').topology).toEqual(TOPOLOGY);
  });

  it('and not again while it is unchanged', () => {
    const cluster = { ...clusterWithLeader(), failsafe: { value: { ...TOPOLOGY }, version: '9' } };
    expect(summary(decide(leaderSnapshot({ cluster, config: failsafeOn }))).actions).toEqual(['renew_lock']);
  });

  it('a member that left changes the topology', () => {
    const cluster = { ...clusterWithLeader(), failsafe: { value: { ...TOPOLOGY, pg3: 'http://pg3:8008/patroni' }, version: '9' } };
    expect(actionOf(decide(leaderSnapshot({ cluster, config: failsafeOn })), 'write_failsafe').topology).toEqual(TOPOLOGY);
  });

  it('with failsafe mode off the leader deletes a leftover key; replicas never write it', () => {
    const cluster = { ...clusterWithLeader(), failsafe: { value: { ...TOPOLOGY }, version: '9' } };
    expect(summary(decide(leaderSnapshot({ cluster }))).actions).toEqual(['renew_lock', 'write_failsafe(delete)']);
    expect(decide(snapshot({ config: failsafeOn })).actions.filter((a) => a.kind === 'write_failsafe')).toEqual([]);
  });

  it('the write follows the renewal, so a lost lock skips it', () => {
    const d = decide(leaderSnapshot({ config: failsafeOn, local: runningPrimary() }));
    const kinds = d.actions.map((a) => a.kind);
    expect(kinds.indexOf('write_failsafe')).toBeGreaterThan(kinds.indexOf('renew_lock'));
  });
});
