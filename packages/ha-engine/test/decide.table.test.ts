// The rules table as a whole: every row is reachable, decisions are deterministic and pure,
// and the management intents.
import { emptyCluster } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/index.js';
import { decide, RULES } from '../src/index.js';
import {
  clusterWithLeader,
  config,
  emptyDataDirectory,
  leaderSnapshot,
  NOW,
  runningPrimary,
  runningReplica,
  snapshot,
  stopped,
  summary,
  unlockedCluster,
} from './fixtures/snapshots.js';

/** One snapshot per situation of the table. */
const situations: Record<string, Snapshot> = {
  'long-action': snapshot({ running: { kind: 'follow', label: 'changing primary_conninfo and restarting', startedAt: 1 } }),
  'postgres-unknown': snapshot({ local: runningReplica({ unknown: 'timeout' }) }),
  'after-bootstrap': snapshot({
    me: 'pg0',
    cluster: { ...emptyCluster(), initialize: { value: '', version: '1' } },
    local: runningPrimary(),
    lastAction: { kind: 'bootstrap', label: 'bootstrap', ok: true, startedAt: 1, finishedAt: 2 },
  }),
  'empty-data-directory': snapshot({ local: emptyDataDirectory() }),
  'invalid-system-id': snapshot({ local: stopped('replica', { dataDirectory: 'invalid', systemId: null }) }),
  'system-id-mismatch': snapshot({ local: runningReplica({ systemId: '1234567890123' }) }),
  'uninitialized-replica': snapshot({ cluster: { ...unlockedCluster(), initialize: null } }),
  'primary-starting': leaderSnapshot({
    local: runningPrimary({ state: 'starting' }),
    memory: { primaryStartDeadline: NOW + 1000, rewindFailed: null, outcomeSeen: null },
  }),
  'reinitialize-requested': snapshot({ intents: { reinitialize: { requestedAt: 1, fromLeader: true } } }),
  'restart-requested': snapshot({ intents: { restart: { requestedAt: 1 } } }),
  paused: snapshot({ config: config({ pause: true }) }),
  'standby-leader-down': leaderSnapshot({ config: config({ standby_cluster: { host: 'remote' } }), local: stopped('replica') }),
  'postgres-down': snapshot({ local: stopped('replica') }),
  'promote-cancelled': leaderSnapshot({
    local: runningReplica(),
    lastAction: { kind: 'promote', label: 'promote', ok: false, error: 'pre_promote script exited with code 1', startedAt: 1, finishedAt: 2 },
  }),
  'promote-backoff': snapshot({
    cluster: unlockedCluster(),
    memory: { primaryStartDeadline: null, rewindFailed: null, outcomeSeen: null, promoteCancelledAt: NOW - 1000 },
  }),
  'lock-free': snapshot({ cluster: unlockedCluster() }),
  'primary-in-standby-cluster': leaderSnapshot({ config: config({ standby_cluster: { host: 'remote' } }), local: runningPrimary() }),
  'standby-leader': leaderSnapshot({ config: config({ standby_cluster: { host: 'remote' } }), local: runningReplica() }),
  'leader-with-lock': leaderSnapshot(),
  follower: snapshot(),
  'dcs-unavailable': snapshot({ cluster: { error: 'unreachable' } }),
};

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

describe('the rules table', () => {
  it('every row is reached by its situation, and by nothing earlier', () => {
    for (const [name, s] of Object.entries(situations)) expect(decide(s).rule, name).toBe(name);
    expect(Object.keys(situations).sort()).toEqual([...RULES.map((r) => r.name), 'dcs-unavailable'].sort());
  });

  it('every row says what it handles', () => {
    for (const rule of RULES) expect(rule.situation.length).toBeGreaterThan(10);
  });

  it('is pure: the same frozen snapshot always gives the same decision', () => {
    for (const s of Object.values(situations)) {
      const frozen = deepFreeze(structuredClone(s));
      expect(decide(frozen)).toEqual(decide(frozen));
      expect(decide(frozen)).toEqual(decide(s));
    }
  });

  it('every decision carries at most one background action', () => {
    for (const s of Object.values(situations)) {
      const longs = decide(s).actions.filter((a) =>
        ['bootstrap', 'create_replica', 'start', 'stop', 'restart', 'promote', 'demote', 'follow', 'rewind', 'reinitialize'].includes(a.kind),
      );
      expect(longs.length).toBeLessThanOrEqual(1);
    }
  });
});

describe('management intents', () => {
  it('reinitialize clones again from the leader', () => {
    const d = decide(situations['reinitialize-requested'] as Snapshot);
    expect(summary(d)).toEqual({ rule: 'reinitialize-requested', reason: 'reinitialize started', actions: ['consume_intent(reinitialize)', 'reinitialize(pg0)'] });
  });

  it('reinitialize is refused on the leader and without a leader', () => {
    const onLeader = decide(leaderSnapshot({ intents: { reinitialize: { requestedAt: 1, fromLeader: false } } }));
    expect(summary(onLeader)).toEqual({ rule: 'reinitialize-requested', reason: 'I am the leader, can not reinitialize', actions: ['consume_intent(reinitialize)'] });
    const noLeader = decide(snapshot({ cluster: unlockedCluster(), intents: { reinitialize: { requestedAt: 1, fromLeader: false } } }));
    expect(noLeader.reason).toBe('Cluster has no leader, can not reinitialize');
  });

  it('restart restarts PostgreSQL, the holder renewing first', () => {
    expect(summary(decide(situations['restart-requested'] as Snapshot)).actions).toEqual(['consume_intent(restart)', 'restart']);
    const d = decide(leaderSnapshot({ intents: { restart: { requestedAt: 1 } } }));
    expect(summary(d)).toEqual({ rule: 'restart-requested', reason: 'restarting PostgreSQL as requested', actions: ['renew_lock', 'consume_intent(restart)', 'restart'] });
    expect(d.member?.state).toBe('restarting');
  });
});

describe('member key', () => {
  it('describes a streaming replica the way Patroni does', () => {
    const d = decide(snapshot({ local: runningReplica({ lsn: 123, receivedLsn: 123, replayedLsn: 120, pendingRestart: true }) }));
    expect(d.member).toEqual({
      conn_url: 'postgres://pg1:5432/postgres',
      api_url: 'http://pg1:8008/patroni',
      state: 'running',
      role: 'replica',
      version: '3.0.2',
      tags: {},
      extra: {},
      xlog_location: 123,
      timeline: 1,
      replication_state: 'streaming',
      receive_lsn: 123,
      replay_lsn: 120,
      pending_restart: true,
    });
  });

  it('reports a stopped former primary as demoted and a failed start as such', () => {
    const d = decide(
      snapshot({
        cluster: clusterWithLeader({ leader: 'pg2' }),
        local: stopped('primary', { lsn: 1, timeline: 1 }),
        running: null,
        lastAction: { kind: 'start', label: 'restarting after failure', ok: false, error: 'x', startedAt: 1, finishedAt: 2 },
      }),
    );
    // The start action of this decision shows as `starting`; without one the failure would show.
    expect(d.member?.role).toBe('demoted');
    expect(d.member?.state).toBe('starting');
    expect(d.member?.xlog_location).toBeUndefined();
  });
});
