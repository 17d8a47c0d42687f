// Decisions for new clusters and new members: the initialize race, cloning, finishing a
// bootstrap, and the system-ID checks.
import { emptyCluster } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import { decide } from '../src/index.js';
import {
  actionOf,
  clusterWithLeader,
  emptyDataDirectory,
  member,
  runningPrimary,
  runningReplica,
  snapshot,
  stopped,
  summary,
  SYSID,
} from './fixtures/snapshots.js';

describe('empty DCS, empty data directory', () => {
  it('races for the initialize key and bootstraps', () => {
    const d = decide(snapshot({ cluster: emptyCluster(), local: emptyDataDirectory() }));
    expect(summary(d)).toEqual({
      rule: 'empty-data-directory',
      reason: 'trying to bootstrap a new cluster',
      actions: ['attempt_initialize', 'bootstrap'],
    });
    expect(actionOf(d, 'attempt_initialize').otherwise?.reason).toBe('failed to acquire initialize lock');
    expect(d.member?.role).toBe('uninitialized');
    expect(d.member?.state).toBe('initializing new cluster');
  });

  it('a nofailover member never bootstraps: it waits for a leader', () => {
    const me = { name: 'pg1', connUrl: 'postgres://pg1:5432/postgres', apiUrl: 'http://pg1:8008/patroni', tags: { nofailover: true }, version: '3.0.2' };
    const d = decide(snapshot({ me, cluster: emptyCluster(), local: emptyDataDirectory() }));
    expect(summary(d)).toEqual({ rule: 'empty-data-directory', reason: 'waiting for leader to bootstrap', actions: [] });
  });

  it('a member whose required watchdog is not usable leaves the race to the others', () => {
    const s = snapshot({ cluster: emptyCluster(), local: emptyDataDirectory() });
    const d = decide({ ...s, watchdogHealthy: false });
    expect(summary(d)).toEqual({ rule: 'empty-data-directory', reason: 'waiting for leader to bootstrap', actions: [] });
    expect(d.notes).toContain('not racing to bootstrap: Watchdog device is not usable');
  });

  it('a member without a bootstrap section waits', () => {
    const s = snapshot({ cluster: emptyCluster(), local: emptyDataDirectory() });
    const d = decide({ ...s, config: { ...s.config, canBootstrap: false } });
    expect(d.reason).toBe('waiting for leader to bootstrap');
  });

  it('waits while another member bootstraps (initialize is "")', () => {
    const cluster = { ...emptyCluster(), initialize: { value: '', version: '1' } };
    const d = decide(snapshot({ cluster, local: emptyDataDirectory() }));
    expect(summary(d)).toEqual({ rule: 'empty-data-directory', reason: 'waiting for leader to bootstrap', actions: [] });
  });
});

describe('a new member of a running cluster', () => {
  it('clones from the leader and then follows it', () => {
    const d = decide(snapshot({ local: emptyDataDirectory() }));
    expect(summary(d)).toEqual({
      rule: 'empty-data-directory',
      reason: "trying to bootstrap from leader 'pg0'",
      actions: ['create_replica(pg0)'],
    });
    const clone = actionOf(d, 'create_replica');
    expect(clone.follow).toEqual({ name: 'pg0', connUrl: 'postgres://pg0:5432/postgres' });
    expect(clone.label).toBe("bootstrap from leader 'pg0'");
    expect(d.member?.state).toBe('creating replica');
  });

  it('clones from a running member tagged clonefrom', () => {
    const cluster = clusterWithLeader({
      members: [member('pg0', { role: 'primary' }), member('pg2', { tags: { clonefrom: true } }), member('pg3', { tags: { clonefrom: true }, state: 'stopped' })],
    });
    const d = decide(snapshot({ cluster, local: emptyDataDirectory() }));
    expect(summary(d)).toMatchObject({ reason: "trying to bootstrap from replica 'pg2'", actions: ['create_replica(pg2)'] });
    expect(actionOf(d, 'create_replica').follow?.name).toBe('pg0');
  });

  it('says why the previous clone failed', () => {
    const d = decide(
      snapshot({
        local: emptyDataDirectory(),
        lastAction: { kind: 'create_replica', label: "bootstrap from leader 'pg0'", ok: false, error: 'pg_basebackup: connection refused', startedAt: 1, finishedAt: 2 },
      }),
    );
    expect(d.reason).toBe("trying to bootstrap from leader 'pg0'");
    expect(d.notes).toEqual(["failed to bootstrap from leader 'pg0': pg_basebackup: connection refused"]);
  });

  it('the lock holder with an empty data directory gives the lock up', () => {
    const d = decide(snapshot({ me: 'pg0', local: emptyDataDirectory(), lock: { held: true, validUntil: 2_000_000 } }));
    expect(summary(d)).toEqual({
      rule: 'empty-data-directory',
      reason: 'released leader key voluntarily as data dir empty and currently leader',
      actions: ['release_lock'],
    });
  });
});

describe('after our bootstrap', () => {
  const bootstrapping = { ...emptyCluster(), initialize: { value: '', version: '7' } };
  const done = { kind: 'bootstrap' as const, label: 'bootstrap', ok: true, startedAt: 1, finishedAt: 2 };

  it('records the system ID, writes the config, takes the lock', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: bootstrapping, local: runningPrimary(), lastAction: done }));
    expect(summary(d)).toEqual({
      rule: 'after-bootstrap',
      reason: 'initialized a new cluster',
      actions: ['activate_watchdog', 'set_initialize', 'write_config', 'acquire_lock'],
    });
    expect(actionOf(d, 'set_initialize')).toMatchObject({ sysid: SYSID, expectVersion: '7' });
    expect(actionOf(d, 'write_config').config).toEqual({ ttl: 30 });
  });

  it('a failed bootstrap removes the initialize key and stops the agent', () => {
    const failed = { ...done, ok: false, error: 'initdb: could not create directory' };
    const d = decide(snapshot({ me: 'pg0', cluster: bootstrapping, local: emptyDataDirectory(), lastAction: failed }));
    expect(summary(d)).toEqual({
      rule: 'after-bootstrap',
      reason: 'removing initialize key after failed attempt to bootstrap the cluster',
      actions: ['cancel_initialize', 'exit'],
    });
    expect(actionOf(d, 'exit').message).toBe('Failed to bootstrap cluster: initdb: could not create directory');
  });

  it('a bootstrap that left PostgreSQL down counts as failed', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: bootstrapping, local: stopped('primary'), lastAction: done }));
    expect(d.reason).toBe('removing initialize key after failed attempt to bootstrap the cluster');
  });

  it('a watchdog that cannot be armed cancels the bootstrap', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: bootstrapping, local: runningPrimary(), lastAction: done }));
    const watchdog = actionOf(d, 'activate_watchdog');
    expect(watchdog.otherwise?.reason).toBe('Cancelling bootstrap because watchdog activation failed');
    expect(watchdog.otherwise?.actions.map((a) => a.kind)).toEqual(['cancel_initialize', 'exit']);
  });
});

describe('system identifier checks', () => {
  it('refuses to join another cluster', () => {
    const d = decide(snapshot({ local: runningReplica({ systemId: '7000000000000000042' }) }));
    expect(summary(d)).toEqual({
      rule: 'system-id-mismatch',
      reason: `system ID mismatch, node pg1 belongs to a different cluster: ${SYSID} != 7000000000000000042`,
      actions: ['exit'],
    });
  });

  it('does nothing with a data directory whose system ID cannot be read', () => {
    const d = decide(snapshot({ local: stopped('replica', { dataDirectory: 'invalid', systemId: null }) }));
    expect(summary(d)).toEqual({
      rule: 'invalid-system-id',
      reason: 'data dir for the cluster is not empty, but system ID is invalid; consider doing reinitialize',
      actions: [],
    });
  });

  it('a running replica with no initialize key aborts', () => {
    const d = decide(snapshot({ cluster: { ...clusterWithLeader({ leader: null }), initialize: null }, local: runningReplica() }));
    expect(summary(d)).toEqual({
      rule: 'uninitialized-replica',
      reason: 'No initialize key in DCS and PostgreSQL is running as replica, aborting start',
      actions: ['exit'],
    });
  });

  it('a primary with no initialize key adopts its data (and races for the lock)', () => {
    const cluster = { ...clusterWithLeader({ leader: null }), initialize: null };
    const d = decide(snapshot({ me: 'pg0', cluster, local: runningPrimary() }));
    expect(d.actions[0]).toEqual({ kind: 'set_initialize', sysid: SYSID, expectVersion: null });
    expect(d.reason).toBe('acquired session lock as a leader');
  });

  it('the lock holder repairs a missing initialize and config', () => {
    const cluster = { ...clusterWithLeader({ config: null }), initialize: null };
    const d = decide(snapshot({ me: 'pg0', cluster, local: runningPrimary(), lock: { held: true, validUntil: 2_000_000 } }));
    expect(summary(d).actions.slice(0, 3)).toEqual(['set_initialize', 'write_config', 'renew_lock']);
  });
});
