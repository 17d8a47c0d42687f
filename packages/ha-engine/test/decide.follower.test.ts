// Replicas following the leader: re-pointing, demoting a stray primary, rejoining after a
// timeline divergence (pg_rewind or re-clone by policy), and PostgreSQL down.
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/index.js';
import { decide } from '../src/index.js';
import {
  actionOf,
  clusterWithLeader,
  config,
  member,
  NOW,
  runningPrimary,
  runningReplica,
  snapshot,
  stopped,
  summary,
} from './fixtures/snapshots.js';

/** pg1 was primary on timeline 1 up to `lsn`; pg2 took over, switching at 1000. */
function afterFailover(local: Snapshot['local'], pg: Record<string, unknown> = {}, extra: Partial<Snapshot> = {}): Snapshot {
  const cluster = clusterWithLeader({
    leader: 'pg2',
    members: [member('pg0'), member('pg1'), member('pg2', { role: 'primary', timeline: 2 })],
    history: [{ timeline: 1, lsn: 1000, reason: 'no recovery target specified', new_leader: 'pg2' }],
  });
  return snapshot({ cluster, local, config: config({}, pg), ...extra });
}

describe('following the leader', () => {
  it('no action while streaming from the leader', () => {
    expect(summary(decide(snapshot()))).toEqual({
      rule: 'follower',
      reason: 'no action. I am (pg1), a secondary, and following a leader (pg0)',
      actions: [],
    });
  });

  it('re-points primary_conninfo when the leader changed', () => {
    const d = decide(snapshot({ cluster: clusterWithLeader({ leader: 'pg2' }) }));
    expect(summary(d)).toEqual({ rule: 'follower', reason: 'changing primary_conninfo and restarting', actions: ['follow(pg2)'] });
    expect(actionOf(d, 'follow').target).toEqual({ name: 'pg2', connUrl: 'postgres://pg2:5432/postgres' });
  });

  it('streams from the replicatefrom member instead of the leader', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { replicatefrom: 'pg2' }, version: 'v' };
    expect(summary(decide(snapshot({ me }))).actions).toEqual(['follow(pg2)']);
    expect(summary(decide(snapshot({ me, local: runningReplica({ following: 'pg2' }) }))).actions).toEqual([]);
  });

  it('names our member slot on the upstream when use_slots is on (the controller never derives it)', () => {
    const slots = config({}, { use_slots: true });
    const me = { name: 'Pg-1.dc', connUrl: 'c', apiUrl: 'a', tags: {}, version: 'v' };
    const d = decide(snapshot({ me, config: slots, cluster: clusterWithLeader({ leader: 'pg2' }) }));
    expect(actionOf(d, 'follow').target).toEqual({ name: 'pg2', connUrl: 'postgres://pg2:5432/postgres', slotName: 'pg_1_dc' });
    const noStream = { ...me, tags: { nostream: 'on' } };
    expect(actionOf(decide(snapshot({ me: noStream, config: slots, cluster: clusterWithLeader({ leader: 'pg2' }) })), 'follow').target).toEqual({
      name: 'pg2',
      connUrl: 'postgres://pg2:5432/postgres',
      noStream: true,
    });
  });

  it('a nostream member follows the leader without streaming from it', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { nostream: true }, version: 'v' };
    const d = decide(snapshot({ me, cluster: clusterWithLeader({ leader: 'pg2' }) }));
    expect(actionOf(d, 'follow').target).toEqual({ name: 'pg2', connUrl: 'postgres://pg2:5432/postgres', noStream: true });
    expect(summary(decide(snapshot({ me, local: runningReplica({ following: 'pg0' }) }))).actions).toEqual([]);
  });

  it('does not re-point to a leader without a member key (nothing to connect to)', () => {
    const cluster = clusterWithLeader({ leader: 'pg9' });
    expect(summary(decide(snapshot({ cluster }))).actions).toEqual([]);
  });

  it('a primary without the lock demotes and follows the leader', () => {
    const d = decide(snapshot({ local: runningPrimary() }));
    expect(summary(d)).toEqual({
      rule: 'follower',
      reason: 'demoting self because I do not have the lock and I was a leader',
      actions: ['demote(immediate-nolock)'],
    });
    expect(actionOf(d, 'demote').follow?.name).toBe('pg0');
  });
});

describe('a leader that cannot be streamed from (issue 15, review M5)', () => {
  // A leader key naming a member that does not exist (an orphaned or hand-written key), or one
  // whose conn_url is missing or garbage: the old primary must not stay stopped for good.
  const orphan = clusterWithLeader({ leader: 'pg9' });
  const garbage = clusterWithLeader({ leader: 'pg2', members: [member('pg0'), member('pg1'), member('pg2', { role: 'primary', conn_url: 'not a url' })] });
  const missing = clusterWithLeader({ leader: 'pg2', members: [member('pg0'), member('pg1'), member('pg2', { role: 'primary', conn_url: undefined })] });

  it('a primary demotes to a read-only replica of nobody, and says why', () => {
    const d = decide(snapshot({ cluster: orphan, local: runningPrimary() }));
    expect(summary(d)).toEqual({
      rule: 'follower',
      reason: 'demoting self because I do not have the lock and I was a leader; following nobody (read-only) because member pg9 does not exist',
      actions: ['demote(immediate-nolock)'],
    });
    expect(actionOf(d, 'demote').follow).toBeNull();
  });

  it('a garbage or missing conn_url is the same', () => {
    const bad = decide(snapshot({ cluster: garbage, local: runningPrimary() }));
    expect(bad.reason).toBe('demoting self because I do not have the lock and I was a leader; following nobody (read-only) because member pg2 has no usable conn_url ("not a url")');
    expect(actionOf(bad, 'demote').follow).toBeNull();
    const none = decide(snapshot({ cluster: missing, local: runningPrimary() }));
    expect(none.reason).toBe('demoting self because I do not have the lock and I was a leader; following nobody (read-only) because member pg2 has no usable conn_url (null)');
  });

  it('the stopped old primary starts read-only, following nobody, every later cycle too', () => {
    const d = decide(snapshot({ cluster: orphan, local: stopped('primary', { state: 'crashed' }) }));
    expect(summary(d)).toEqual({
      rule: 'postgres-down',
      reason: 'starting as a secondary; following nobody (read-only) because member pg9 does not exist',
      actions: ['start(replica)'],
    });
    expect(actionOf(d, 'start').follow).toBeNull();
  });

  it('a running replica is left as it is, and the reason says why it does not re-point', () => {
    const d = decide(snapshot({ cluster: garbage, local: runningReplica({ following: null, streaming: false }) }));
    expect(summary(d)).toEqual({
      rule: 'follower',
      reason: 'no action. I am (pg1), a secondary, and following a leader (pg2); not streaming from it because member pg2 has no usable conn_url ("not a url")',
      actions: [],
    });
  });

  it('a replicatefrom member without a usable conn_url: the leader instead', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { replicatefrom: 'pg2' }, version: 'v' };
    const cluster = clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1'), member('pg2', { conn_url: 'http://pg2' })] });
    const d = decide(snapshot({ me, cluster, local: stopped('replica') }));
    expect(summary(d).actions).toEqual(['start(replica→pg0)']);
  });
});

describe('rejoining after a divergence', () => {
  const diverged = stopped('primary', { timeline: 1, lsn: 1500 });

  it('rewinds when allowed and possible', () => {
    const d = decide(afterFailover(diverged, { use_pg_rewind: true }));
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'running pg_rewind from pg2', actions: ['rewind(pg2)'] });
    expect(d.notes).toEqual(['local position 1500 on timeline 1 is at or past the switch point 1000']);
  });

  it('a running diverged replica is rewound too', () => {
    const d = decide(afterFailover(runningReplica({ timeline: 1, lsn: 1500, following: 'pg2', streaming: false }), { use_pg_rewind: true }));
    expect(summary(d)).toEqual({ rule: 'follower', reason: 'running pg_rewind from pg2', actions: ['rewind(pg2)'] });
  });

  // Regression (issue 18, the last session's suspicion): a new leader's member key says its old
  // timeline for a cycle after its promotion, and the history key is written a cycle later still;
  // a leader that crashes right after its promotion leaves them so until its key expires. A replica
  // that streamed the new timeline from it is then "ahead" of what the DCS shows, and was rewound
  // from it — from a dead leader, after a crash.
  describe('a leader whose keys are behind its promotion', () => {
    const stale = clusterWithLeader({ leader: 'pg2', members: [member('pg0'), member('pg1'), member('pg2', { role: 'primary', timeline: 1 })] });

    it('a running replica that streamed the new timeline from it is not rewound', () => {
      const d = decide(snapshot({ cluster: stale, local: runningReplica({ timeline: 2, lsn: 1500, following: 'pg2', streaming: false }), config: config({}, { use_pg_rewind: true }) }));
      expect(summary(d)).toEqual({ rule: 'follower', reason: 'no action. I am (pg1), a secondary, and following a leader (pg2)', actions: [] });
    });

    it('a replica that follows another member, or a stopped former primary, ahead of it is still rewound', () => {
      const other = decide(snapshot({ cluster: stale, local: runningReplica({ timeline: 2, lsn: 1500, following: 'pg0', streaming: false }), config: config({}, { use_pg_rewind: true }) }));
      expect(summary(other).actions).toEqual(['rewind(pg2)']);
      const formerPrimary = decide(snapshot({ cluster: stale, local: stopped('primary', { timeline: 2, lsn: 1500 }), config: config({}, { use_pg_rewind: true }) }));
      expect(summary(formerPrimary).actions).toEqual(['rewind(pg2)']);
    });
  });

  it('a former primary whose shutdown checkpoint starts at the switch point diverged', () => {
    expect(decide(afterFailover(stopped('primary', { lsn: 1000 }), { use_pg_rewind: true })).reason).toBe('running pg_rewind from pg2');
    expect(decide(afterFailover(stopped('replica', { lsn: 1000 }), { use_pg_rewind: true })).reason).toBe('starting as a secondary');
  });

  it('starts as a secondary when not past the switch point', () => {
    const d = decide(afterFailover(stopped('primary', { lsn: 900 }), { use_pg_rewind: true }));
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'starting as a secondary', actions: ['start(replica→pg2)'] });
  });

  it('waits for the new primary to checkpoint before pg_rewind', () => {
    const s = afterFailover(diverged, { use_pg_rewind: true });
    const cluster = s.cluster as Exclude<Snapshot['cluster'], { error: string }>;
    const members = cluster.members.map((m) => (m.name === 'pg2' ? member('pg2', { role: 'primary', timeline: 2, checkpoint_after_promote: false }) : m));
    const d = decide({ ...s, cluster: { ...cluster, members } });
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'Waiting for checkpoint on pg2 before rewind', actions: [] });
    // It looks again soon rather than a whole loop_wait later: the checkpoint normally takes moments.
    expect(d.wakeAfterMs).toBe(1_000);
  });

  it('re-clones when pg_rewind is not possible and diverged timelines may be removed', () => {
    const d = decide(afterFailover({ ...diverged, rewindPossible: false }, { use_pg_rewind: true, remove_data_directory_on_diverged_timelines: true }));
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'reinitializing due to diverged timelines', actions: ['reinitialize(pg2)'] });
  });

  it('after a failed pg_rewind, re-clones only when remove_data_directory_on_rewind_failure allows', () => {
    const failed = { kind: 'rewind' as const, label: 'running pg_rewind from pg2', ok: false, error: 'pg_rewind: could not find common ancestor', startedAt: 1, finishedAt: 2 };
    const allowed = decide(afterFailover(diverged, { use_pg_rewind: true, remove_data_directory_on_rewind_failure: true }, { lastAction: failed }));
    expect(summary(allowed).actions).toEqual(['reinitialize(pg2)']);
    expect(allowed.memory.rewindFailed).toEqual({ leader: 'pg2', timeline: 2 });

    const refused = decide(afterFailover(diverged, { use_pg_rewind: true }, { lastAction: failed }));
    expect(summary(refused)).toEqual({ rule: 'postgres-down', reason: 'starting as a secondary', actions: ['start(replica→pg2)'] });
    expect(refused.notes[0]).toMatch(/pg_rewind failed and removing the data directory is not allowed/);
  });

  it('does not retry a failed pg_rewind against the same leader', () => {
    const s = afterFailover(runningReplica({ timeline: 1, lsn: 1500, following: 'pg2', streaming: false }), { use_pg_rewind: true }, {
      memory: { primaryStartDeadline: null, rewindFailed: { leader: 'pg2', timeline: 2 }, outcomeSeen: 'rewind@1' },
    });
    expect(summary(decide(s)).actions).toEqual([]);
  });

  it('without any rejoin policy it just starts and reports why it cannot stream', () => {
    const d = decide(afterFailover(diverged));
    expect(summary(d).actions).toEqual(['start(replica→pg2)']);
    expect(d.notes[0]).toMatch(/pg_rewind is not allowed or not possible/);
  });
});

describe('PostgreSQL is down', () => {
  it('a replica starts as a secondary following the leader', () => {
    const d = decide(snapshot({ local: stopped('replica', { state: 'crashed' }) }));
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'starting as a secondary', actions: ['start(replica→pg0)'] });
    expect(actionOf(d, 'start').label).toBe('restarting after failure');
    expect(d.member?.state).toBe('starting');
  });

  it('the lock holder whose data is a replica starts read-only, then promotes next cycle', () => {
    const d = decide(snapshot({ me: 'pg0', local: stopped('replica') }));
    expect(summary(d)).toEqual({
      rule: 'postgres-down',
      reason: 'starting as readonly because i had the session lock',
      actions: ['renew_lock', 'start(replica)'],
    });
  });

  it('a crashed primary holding the lock restarts in place, with a deadline', () => {
    const d = decide(snapshot({ me: 'pg0', local: stopped('primary', { state: 'crashed' }) }));
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'starting primary after failure', actions: ['renew_lock', 'start(primary)'] });
    expect(actionOf(d, 'renew_lock').otherwise?.reason).toBe('failed to update leader lock in DCS');
    expect(actionOf(d, 'start').timeoutMs).toBe(300_000);
    expect(d.memory.primaryStartDeadline).toBe(NOW + 300_000);
    expect(d.member?.role).toBe('primary');
  });

  it('a second attempt keeps the first deadline', () => {
    const d = decide(snapshot({ me: 'pg0', local: stopped('primary'), memory: { primaryStartDeadline: NOW + 10_000, rewindFailed: null, outcomeSeen: null } }));
    expect(d.memory.primaryStartDeadline).toBe(NOW + 10_000);
    expect(actionOf(d, 'start').timeoutMs).toBe(10_000);
  });

  it('after primary_start_timeout it fails over if another member can take over', () => {
    const s = snapshot({ me: 'pg0', local: stopped('primary'), memory: { primaryStartDeadline: NOW - 1, rewindFailed: null, outcomeSeen: null } });
    expect(summary(decide(s)).actions).toEqual(['probe_peers(pg1,pg2)']);
    const d = decide({ ...s, peers: [{ name: 'pg1', reachable: true, inRecovery: true, walPosition: 50_331_648, timeline: 1, tags: {}, watchdogFailed: false }] });
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'stopped PostgreSQL because of startup timeout', actions: ['renew_lock', 'demote(immediate)'] });
  });

  it('with primary_start_timeout 0 it fails over at once', () => {
    const s = snapshot({ me: 'pg0', local: stopped('primary', { state: 'crashed' }), config: config({ primary_start_timeout: 0 }) });
    const d = decide({ ...s, peers: [{ name: 'pg1', reachable: true, inRecovery: true, walPosition: 50_331_648, timeline: 1, tags: {}, watchdogFailed: false }] });
    expect(summary(d)).toEqual({ rule: 'postgres-down', reason: 'stopped PostgreSQL to fail over after a crash', actions: ['renew_lock', 'demote(immediate)'] });
  });

  it('with primary_start_timeout 0 and nobody to fail over to, it restarts in place', () => {
    const s = snapshot({ me: 'pg0', local: stopped('primary'), config: config({ master_start_timeout: 0 }), peers: [] });
    expect(decide(s).reason).toBe('starting primary after failure');
  });
});
