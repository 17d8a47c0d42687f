// Replicas that claim to follow but do not (issue 18): a replica whose WAL receiver has not
// streamed from its upstream for longer than replica_not_streaming_timeout is repaired, one
// escalating step per bound (re-point, restart the receiver, rejoin), and reported unhealthy.
import { describe, expect, it } from 'vitest';
import type { Decision, LocalPostgresState, Snapshot, WalReceiverState } from '../src/index.js';
import { decide, decisionFacts, dynamicConfigProblem, isNotStreamingUnhealthy, reasonMatchesCode, resolveEngineConfig, timingProblem } from '../src/index.js';
import { clusterWithLeader, config, member, NOW, runningReplica, snapshot, summary } from './fixtures/snapshots.js';

/** ttl 30 + loop_wait 10: the default bound is 40 s. */
const BOUND_MS = 40_000;

const streaming: WalReceiverState = {
  status: 'streaming',
  pid: 4242,
  senderHost: 'pg0',
  senderPort: 5432,
  conninfoHost: 'pg0',
  conninfoPort: 5432,
  lastMsgReceiptTime: '2026-01-01 12:00:00.000000+00:00',
};
/** The receiver keeps failing to connect: no process, primary_conninfo still right. */
const noReceiver: WalReceiverState = { ...streaming, status: null, pid: null, senderHost: null, senderPort: null, lastMsgReceiptTime: null };
/** primary_conninfo was edited to a wrong port behind pgha's back. */
const wrongPort: WalReceiverState = { ...noReceiver, conninfoPort: 1 };
/** A receiver process that waits (its connection broke) but still runs. */
const waiting: WalReceiverState = { ...streaming, status: 'waiting' };

const replica = (walReceiver: WalReceiverState, extra: Partial<LocalPostgresState> = {}): LocalPostgresState => runningReplica({ walReceiver, ...extra });

/** Decides at `now`, carrying the memory of `previous` forward as the loop does. */
function cycle(local: LocalPostgresState, now: number, previous: Decision | null, extra: Partial<Snapshot> = {}): Decision {
  return decide(snapshot({ local, now, memory: previous?.memory ?? snapshot().memory, ...extra }));
}

describe('a replica streaming from its upstream', () => {
  it('is left alone and remembered as streaming', () => {
    const d = cycle(replica(streaming), NOW, null);
    expect(d.code).toBe('follow.leader');
    expect(d.memory.receiver).toBeNull();
  });

  it('a port that does not report the receiver is never judged', () => {
    const d = cycle(runningReplica({ streaming: false }), NOW + 10 * BOUND_MS, cycle(runningReplica({ streaming: false }), NOW, null));
    expect(d.memory.receiver).toBeNull();
    expect(d.code).toBe('follow.leader');
  });

  it('streaming from another address than the upstream counts as not streaming from it', () => {
    const d = cycle(replica({ ...streaming, senderPort: 5433 }), NOW, null);
    expect(d.memory.receiver).toEqual({ upstream: 'pg0', since: NOW, step: 0, stepAt: null });
  });
});

describe('the bound', () => {
  it('nothing is done up to the bound; the first step comes just past it', () => {
    const first = cycle(replica(waiting), NOW, null);
    expect(first.memory.receiver).toEqual({ upstream: 'pg0', since: NOW, step: 0, stepAt: null });
    expect(first.code).toBe('follow.leader');
    expect(first.notes).toContain('not streaming from pg0 for 0 s (repaired after 40 s)');
    const atBound = cycle(replica(waiting), NOW + BOUND_MS, first);
    expect(atBound.code).toBe('follow.leader');
    expect(isNotStreamingUnhealthy(atBound.memory.receiver, NOW + BOUND_MS, config())).toBe(false);
    const past = cycle(replica(waiting), NOW + BOUND_MS + 1, atBound);
    expect(past.code).toBe('receiver.restart');
    expect(isNotStreamingUnhealthy(past.memory.receiver, NOW + BOUND_MS + 1, config())).toBe(true);
  });

  it('streaming again forgets it, and the next outage starts a new bound', () => {
    const first = cycle(replica(waiting), NOW, null);
    const healed = cycle(replica(streaming), NOW + 1000, first);
    expect(healed.memory.receiver).toBeNull();
    const again = cycle(replica(waiting), NOW + BOUND_MS + 1, healed);
    expect(again.code).toBe('follow.leader');
    expect(again.memory.receiver?.since).toBe(NOW + BOUND_MS + 1);
  });

  it('replica_not_streaming_timeout sets it, 0 turns it off, and a bad value is refused', () => {
    const short = config({ replica_not_streaming_timeout: 5 });
    const first = cycle(replica(waiting), NOW, null, { config: short });
    expect(cycle(replica(waiting), NOW + 5000, first, { config: short }).code).toBe('follow.leader');
    expect(cycle(replica(waiting), NOW + 5001, first, { config: short }).code).toBe('receiver.restart');
    const off = config({ replica_not_streaming_timeout: 0 });
    const offFirst = cycle(replica(waiting), NOW, null, { config: off });
    expect(cycle(replica(waiting), NOW + 100 * BOUND_MS, offFirst, { config: off }).code).toBe('follow.leader');
    expect(isNotStreamingUnhealthy(offFirst.memory.receiver, NOW + 100 * BOUND_MS, off)).toBe(false);
    expect(config({ replica_not_streaming_timeout: '2min' }).replicaNotStreamingTimeout).toBe(120);
    const bad = resolveEngineConfig({ replica_not_streaming_timeout: 'soon' });
    expect(bad.config.replicaNotStreamingTimeout).toBe(40);
    expect(bad.warnings.join('\n')).toContain('config.replica_not_streaming_timeout');
    expect(timingProblem({ replica_not_streaming_timeout: 100_000 })).toContain('replica_not_streaming_timeout');
    expect(timingProblem({ replica_not_streaming_timeout: -1 })).toContain('replica_not_streaming_timeout');
    expect(timingProblem({ replica_not_streaming_timeout: 30 })).toBeNull();
    // PATCH /config, edit-config and the YAML's bootstrap.dcs refuse it with the same rule.
    expect(dynamicConfigProblem({ replica_not_streaming_timeout: 'soon' })).toBe('replica_not_streaming_timeout: expected a number of seconds, got "soon"');
  });
});

describe('escalation', () => {
  /** Runs one cycle per bound and returns the codes and actions of each. */
  function escalate(local: LocalPostgresState, steps: number, extra: Partial<Snapshot> = {}): Decision[] {
    const out: Decision[] = [];
    let d = cycle(local, NOW, null, extra);
    for (let i = 1; i <= steps; i++) {
      d = cycle(local, NOW + i * (BOUND_MS + 1), d, extra);
      out.push(d);
    }
    return out;
  }

  it('a wrong primary_conninfo: re-point, restart PostgreSQL (no receiver), rejoin with pg_rewind, then again', () => {
    const rewind = { config: config({}, { use_pg_rewind: true }) };
    const ds = escalate(replica(wrongPort), 4, rewind);
    expect(ds.map((d) => d.code)).toEqual(['receiver.repoint', 'receiver.restart-postgres', 'receiver.rewind', 'receiver.repoint']);
    expect(summary(ds[0]!)).toEqual({ rule: 'follower', reason: 'not streaming from pg0 for 40 s: changing primary_conninfo to pg0 and reloading', actions: ['follow(pg0)'] });
    expect(summary(ds[1]!).actions).toEqual(['restart']);
    expect(summary(ds[2]!)).toEqual({ rule: 'follower', reason: 'not streaming from pg0 for 120 s: running pg_rewind from pg0', actions: ['rewind(pg0)'] });
    expect(ds.map((d) => d.memory.receiver?.step)).toEqual([1, 2, 3, 1]);
    for (const d of ds) expect(reasonMatchesCode(d.code, d.reason), d.reason).toBe(true);
  });

  it('a right primary_conninfo and a receiver that runs: restart the receiver first', () => {
    const ds = escalate(replica(waiting), 2, { config: config({}, { use_pg_rewind: true }) });
    expect(ds.map((d) => summary(d).actions)).toEqual([['restart_wal_receiver(4242)'], ['rewind(pg0)']]);
    expect(ds.map((d) => d.code)).toEqual(['receiver.restart', 'receiver.rewind']);
  });

  it('the rejoin follows the rejoin settings: re-clone when allowed, else stuck (and reported)', () => {
    const reclone = escalate(replica(waiting), 2, { config: config({}, { remove_data_directory_on_diverged_timelines: true }) });
    expect(reclone.map((d) => d.code)).toEqual(['receiver.restart', 'receiver.reinitialize']);
    expect(summary(reclone[1]!).actions).toEqual(['reinitialize(pg0)']);
    const stuck = escalate(replica(waiting), 3);
    expect(stuck.map((d) => d.code)).toEqual(['receiver.restart', 'receiver.stuck', 'receiver.restart']);
    expect(stuck[1]!.actions).toEqual([]);
    expect(reasonMatchesCode('receiver.stuck', stuck[1]!.reason)).toBe(true);
  });

  it('each step waits a whole bound after the one before', () => {
    const first = cycle(replica(waiting), NOW, null);
    const restart = cycle(replica(waiting), NOW + BOUND_MS + 1, first);
    expect(restart.code).toBe('receiver.restart');
    expect(cycle(replica(waiting), NOW + 2 * BOUND_MS + 1, restart).code).toBe('follow.leader');
    expect(cycle(replica(waiting), NOW + 2 * BOUND_MS + 2, restart).code).toBe('receiver.stuck');
  });

  it('keeps its place while a repair restarts PostgreSQL, instead of starting over', () => {
    const first = cycle(replica(noReceiver), NOW, null);
    const restart = cycle(replica(noReceiver), NOW + BOUND_MS + 1, first);
    expect(restart.code).toBe('receiver.restart-postgres');
    const during = cycle(replica(noReceiver, { state: 'starting' }), NOW + BOUND_MS + 2000, restart, {
      running: { kind: 'restart', label: 'restarting', startedAt: NOW + BOUND_MS + 1 },
    });
    expect(during.memory.receiver).toEqual(restart.memory.receiver);
    const stopped = cycle(replica(noReceiver, { running: false, state: 'stopped' }), NOW + BOUND_MS + 3000, during);
    expect(stopped.memory.receiver).toEqual(restart.memory.receiver);
  });

  it('a standby leader re-points and restarts its receiver towards the remote primary, and never rejoins', () => {
    const standbyConfig = config({ standby_cluster: { host: 'remote', port: 6000 } });
    const cluster = clusterWithLeader({ leader: 'pg1', members: [member('pg0'), member('pg1', { role: 'standby_leader' })] });
    const remote: WalReceiverState = { ...waiting, senderHost: 'remote', senderPort: 6000, conninfoHost: 'remote', conninfoPort: 6000 };
    const local = replica(remote, { following: 'remote:6000' });
    const extra = { config: standbyConfig, cluster, lock: { held: true, validUntil: NOW + 100 * BOUND_MS } };
    expect(cycle(replica({ ...remote, status: 'streaming' }, { following: 'remote:6000' }), NOW, null, extra).memory.receiver).toBeNull();
    const ds = escalate(local, 3, extra);
    expect(ds.map((d) => d.code)).toEqual(['receiver.restart', 'receiver.restart', 'receiver.restart']);
    expect(summary(ds[0]!)).toEqual({ rule: 'standby-leader', reason: 'not streaming from remote:6000 for 40 s: restarting the WAL receiver', actions: ['renew_lock', 'restart_wal_receiver(4242)'] });
    const wrong = escalate(replica({ ...remote, conninfoPort: 1 }, { following: 'remote:6000' }), 1, extra);
    expect(summary(wrong[0]!).actions).toEqual(['renew_lock', 'follow(remote:6000)']);
  });
});

describe('when there is nothing for the replica to repair', () => {
  it('an upstream whose member key does not say it runs is not held against the replica', () => {
    const cluster = clusterWithLeader({ members: [member('pg0', { role: 'primary', state: 'starting' }), member('pg1'), member('pg2')] });
    const first = cycle(replica(waiting), NOW, null, { cluster });
    expect(cycle(replica(waiting), NOW + 10 * BOUND_MS, first, { cluster }).memory.receiver).toBeNull();
  });

  it('a nostream replica, and a primary, are never judged', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { nostream: true }, version: 'v' };
    expect(decide(snapshot({ me, local: replica(noReceiver) })).memory.receiver).toBeNull();
    const leader = decide(snapshot({ me: 'pg0', local: runningReplica({ role: 'primary', walReceiver: noReceiver }), lock: { held: true, validUntil: NOW + 20_000 } }));
    expect(leader.memory.receiver).toBeNull();
  });

  it('in maintenance mode it is reported but not repaired', () => {
    const paused = { config: config({ pause: true }) };
    const first = cycle(replica(waiting), NOW, null, paused);
    const later = cycle(replica(waiting), NOW + 10 * BOUND_MS, first, paused);
    expect(later.code).toBe('pause.follow');
    expect(later.actions.map((a) => a.kind)).toEqual(['disable_watchdog']);
    expect(isNotStreamingUnhealthy(later.memory.receiver, NOW + 10 * BOUND_MS, paused.config)).toBe(true);
  });

  it('a replicatefrom member is the upstream it must stream from', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { replicatefrom: 'pg2' }, version: 'v' };
    const fromPg2: WalReceiverState = { ...streaming, senderHost: 'pg2', conninfoHost: 'pg2' };
    expect(decide(snapshot({ me, local: replica(fromPg2, { following: 'pg2' }) })).memory.receiver).toBeNull();
    expect(decide(snapshot({ me, local: replica(streaming, { following: 'pg2' }) })).memory.receiver?.upstream).toBe('pg2');
  });
});

describe('the decision record', () => {
  it('carries the receiver facts: status, sender, upstream, how long, the step taken', () => {
    const first = cycle(replica(waiting), NOW, null);
    const s = snapshot({ local: replica(waiting), now: NOW + BOUND_MS + 1, memory: first.memory });
    const d = decide(s);
    expect(decisionFacts(s, d).walReceiver).toEqual({ status: 'waiting', sender: 'pg0:5432', upstream: 'pg0', notStreamingMs: BOUND_MS + 1, repairStep: 2 });
    const healthy = snapshot({ local: replica(streaming) });
    expect(decisionFacts(healthy, decide(healthy)).walReceiver).toEqual({ status: 'streaming', sender: 'pg0:5432', upstream: null, notStreamingMs: null, repairStep: 0 });
  });
});
