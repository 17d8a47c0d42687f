// Every DCS fault from every role, as the decision sees it: the DCS cannot be read
// (unreachable, or slower than the call deadline), a renewal that fails (error: unknown outcome;
// false: lost), and a lost lease (the leader key gone or someone else's). Plus the rules for a
// running background action.
import { describe, expect, it } from 'vitest';
import type { LocalPostgresState, RunningAction, Snapshot } from '../src/index.js';
import { decide } from '../src/index.js';
import {
  actionOf,
  clusterWithLeader,
  emptyDataDirectory,
  NOW,
  runningPrimary,
  runningReplica,
  snapshot,
  stopped,
  summary,
  unlockedCluster,
} from './fixtures/snapshots.js';

const unreachable = { error: 'memory DCS: load: store unreachable' };
const validLease = { held: true, validUntil: NOW + 20_000 };

interface Role {
  name: string;
  me: string;
  local: LocalPostgresState;
  lock: Snapshot['lock'];
  running?: RunningAction;
}

const roles: Role[] = [
  { name: 'primary with a valid lease', me: 'pg0', local: runningPrimary(), lock: validLease },
  { name: 'primary whose lease is about to end', me: 'pg0', local: runningPrimary(), lock: { held: true, validUntil: NOW + 4_000 } },
  { name: 'primary without a lease', me: 'pg0', local: runningPrimary(), lock: { held: false, validUntil: null } },
  { name: 'promoting replica', me: 'pg1', local: runningReplica(), lock: validLease, running: { kind: 'promote', label: 'promote', startedAt: NOW - 10 } },
  { name: 'replica', me: 'pg1', local: runningReplica(), lock: { held: false, validUntil: null } },
  { name: 'stopped replica', me: 'pg1', local: stopped('replica'), lock: { held: false, validUntil: null } },
  { name: 'new member cloning', me: 'pg1', local: emptyDataDirectory(), lock: { held: false, validUntil: null }, running: { kind: 'create_replica', label: "bootstrap from leader 'pg0'", startedAt: NOW - 10 } },
];

describe('the DCS cannot be read (unreachable, or slower than retry_timeout)', () => {
  const expected: Record<string, { reason: string; actions: string[] }> = {
    'primary with a valid lease': {
      reason: 'DCS is not accessible; continue to run as a leader while the leader lock is valid (15 seconds left)',
      actions: [],
    },
    'primary whose lease is about to end': { reason: 'demoting self because DCS is not accessible and I was a leader', actions: ['demote(offline)'] },
    'primary without a lease': { reason: 'demoting self because DCS is not accessible and I was a leader', actions: ['demote(offline)'] },
    'promoting replica': {
      reason: 'DCS is not accessible; continue to run as a leader while the leader lock is valid (15 seconds left)',
      actions: [],
    },
    replica: { reason: 'DCS is not accessible', actions: [] },
    'stopped replica': { reason: 'DCS is not accessible', actions: [] },
    'new member cloning': { reason: 'DCS is not accessible', actions: [] },
  };

  for (const role of roles) {
    it(role.name, () => {
      const d = decide(snapshot({ me: role.me, cluster: unreachable, local: role.local, lock: role.lock, running: role.running ?? null }));
      expect({ reason: d.reason, actions: summary(d).actions }).toEqual(expected[role.name]);
      expect(d.rule).toBe('dcs-unavailable');
      // Nothing can be written to the DCS, the member key included.
      expect(d.member).toBeNull();
      expect(d.notes).toEqual([unreachable.error]);
    });
  }

  it('the offline demote preempts a running action and follows nobody', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: unreachable, local: runningPrimary(), running: { kind: 'restart', label: 'restart', startedAt: 1 } }));
    expect(actionOf(d, 'demote')).toMatchObject({ mode: 'offline', follow: null, preempt: true });
  });
});

describe('a renewal that fails', () => {
  it('with an error (DCS slow or gone): the primary keeps running, the safety deadline bounds it', () => {
    const renew = actionOf(decide(snapshot({ me: 'pg0', local: runningPrimary(), lock: validLease })), 'renew_lock');
    expect(renew.onError).toEqual({
      code: 'leader.renew-error',
      reason: 'failed to update leader lock in DCS; continue to run as primary while the leader lock is valid',
      actions: [],
    });
  });

  it('with false (the key is gone or someone else\'s): the primary demotes at once without releasing', () => {
    const renew = actionOf(decide(snapshot({ me: 'pg0', local: runningPrimary(), lock: validLease })), 'renew_lock');
    expect(renew.otherwise?.actions).toMatchObject([{ kind: 'demote', mode: 'immediate-nolock' }]);
  });

  it('during a long action: the action continues unless we are a primary', () => {
    const running = { kind: 'restart' as const, label: 'restart', startedAt: 1 };
    const d = decide(snapshot({ me: 'pg0', local: runningPrimary(), lock: validLease, running }));
    expect(summary(d)).toEqual({ rule: 'long-action', reason: 'updated leader lock during restart', actions: ['renew_lock'] });
    const renew = actionOf(d, 'renew_lock');
    expect(renew.otherwise).toMatchObject({ reason: 'lost leader lock during restart', actions: [{ kind: 'demote', mode: 'immediate-nolock', preempt: true }] });
    expect(renew.onError?.reason).toBe('restart in progress; failed to update leader lock in DCS');
  });
});

describe('a lost lease (the leader key expired or was taken)', () => {
  it('primary, key gone: races to take it back', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: unlockedCluster(), local: runningPrimary(), lock: { held: false, validUntil: null } }));
    expect(summary(d)).toEqual({ rule: 'lock-free', reason: 'acquired session lock as a leader', actions: ['acquire_lock', 'activate_watchdog'] });
  });

  it('primary, key taken by another member: demotes and follows it', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: clusterWithLeader({ leader: 'pg2' }), local: runningPrimary() }));
    expect(summary(d)).toEqual({ rule: 'follower', reason: 'demoting self because I do not have the lock and I was a leader', actions: ['demote(immediate-nolock)'] });
  });

  it('promoting replica, key gone: stops the promotion', () => {
    const d = decide(snapshot({ cluster: unlockedCluster(), running: { kind: 'promote', label: 'promote', startedAt: 1 } }));
    expect(summary(d)).toEqual({ rule: 'long-action', reason: 'lost leader before promote', actions: ['demote(immediate-nolock)'] });
    expect(actionOf(d, 'demote').preempt).toBe(true);
  });

  it('primary during a long action, key gone: demotes, aborting the action', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: unlockedCluster(), local: runningPrimary(), running: { kind: 'restart', label: 'restart', startedAt: 1 } }));
    expect(summary(d)).toEqual({ rule: 'long-action', reason: 'lost leader lock during restart', actions: ['demote(immediate-nolock)'] });
  });

  it('replica, key gone: joins the leader race', () => {
    expect(summary(decide(snapshot({ cluster: unlockedCluster() }))).actions).toEqual(['probe_peers(pg0,pg2)']);
  });

  it('replica during a long action, key gone: lets it finish', () => {
    const d = decide(snapshot({ cluster: unlockedCluster(), running: { kind: 'follow', label: 'changing primary_conninfo and restarting', startedAt: 1 } }));
    expect(summary(d)).toEqual({ rule: 'long-action', reason: 'changing primary_conninfo and restarting in progress', actions: [] });
    expect(d.notes).toEqual(['not healthy enough for leader race']);
  });

  it('a bootstrap runs to its end whatever happens to the lock', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: unlockedCluster(), local: runningPrimary(), running: { kind: 'bootstrap', label: 'bootstrap', startedAt: 1 } }));
    expect(summary(d)).toEqual({ rule: 'long-action', reason: 'bootstrap in progress', actions: [] });
  });

  it('a demote already under way is not demoted again', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: unlockedCluster(), local: runningPrimary(), running: { kind: 'demote', label: 'demote (immediate-nolock)', startedAt: 1 } }));
    expect(summary(d)).toEqual({ rule: 'long-action', reason: 'demote (immediate-nolock) in progress', actions: [] });
  });
});

describe('PostgreSQL state unknown (the query failed or hung)', () => {
  it('does nothing to PostgreSQL and does not renew', () => {
    const d = decide(snapshot({ me: 'pg0', local: runningPrimary({ unknown: 'reading the PostgreSQL state did not finish within 10000 ms' }), lock: validLease }));
    expect(summary(d)).toEqual({ rule: 'postgres-unknown', reason: 'Error communicating with PostgreSQL. Will try again later', actions: [] });
    expect(d.notes).toEqual(['reading the PostgreSQL state did not finish within 10000 ms']);
  });
});
