// Standby cluster (`standby_cluster` in the dynamic config): the lock holder is a standby leader
// that streams from the remote primary and never promotes; the others cascade from it; removing
// the section promotes it.
import { emptyCluster } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/index.js';
import { decide, resolveEngineConfig } from '../src/index.js';
import {
  actionOf,
  clusterWithLeader,
  config,
  emptyDataDirectory,
  leaderSnapshot,
  member,
  peer,
  runningPrimary,
  runningReplica,
  snapshot,
  stopped,
  summary,
  unlockedCluster,
} from './fixtures/snapshots.js';

const STANDBY = { host: '10.0.0.9', port: 5433, primary_slot_name: 'standby_a', restore_command: 'cp /wal/%f %p' };
// These members' YAML allows commands from the DCS (postgresql.allow_dcs_commands), so the
// section's restore_command reaches the standby leader; the rule itself is tested below.
const standbyConfig = config({ standby_cluster: STANDBY }, {}, { allowDcsCommands: true });
const REMOTE = '10.0.0.9:5433';

/** pg0 holds the lock of a standby cluster, running as a replica of the remote primary. */
function standbyLeader(overrides: Partial<Snapshot> = {}): Snapshot {
  return leaderSnapshot({ config: standbyConfig, local: runningReplica({ following: REMOTE }), ...overrides });
}

describe('config', () => {
  it('parses the section, defaulting the port and keeping the recovery settings', () => {
    const { config: c, warnings } = resolveEngineConfig({ standby_cluster: { host: 'remote', recovery_min_apply_delay: '5min' } });
    expect(warnings).toEqual([]);
    expect(c.standbyCluster).toEqual({
      host: 'remote',
      port: 5432,
      primarySlotName: null,
      createReplicaMethods: null,
      recoveryConf: { recovery_min_apply_delay: '5min' },
    });
  });

  it('a null section (PATCH {"standby_cluster": null}) is a normal cluster', () => {
    expect(resolveEngineConfig({ standby_cluster: null }).config.standbyCluster).toBeNull();
  });

  it("drops the section's commands unless the local YAML allows them, keeping the rest (issue 16)", () => {
    const section = { host: 'remote', port: 5433, restore_command: 'cp /wal/%f %p', archive_cleanup_command: 'rm -rf /', recovery_min_apply_delay: '5min' };
    const off = resolveEngineConfig({ standby_cluster: section }, { postgresql: { recovery_conf: { restore_command: 'local-restore %f %p' } } });
    expect(off.config.standbyCluster).toEqual({ host: 'remote', port: 5433, primarySlotName: null, createReplicaMethods: null, recoveryConf: { recovery_min_apply_delay: '5min' } });
    expect(off.warnings).toEqual([
      'config.standby_cluster.archive_cleanup_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; postgresql.recovery_conf.archive_cleanup_command is not set in the local YAML',
      'config.standby_cluster.restore_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; the local postgresql.recovery_conf.restore_command applies',
    ]);
    const on = resolveEngineConfig({ standby_cluster: section }, { allowDcsCommands: true });
    expect(on.warnings).toEqual([]);
    expect(on.config.standbyCluster?.recoveryConf).toEqual({ restore_command: 'cp /wal/%f %p', archive_cleanup_command: 'rm -rf /', recovery_min_apply_delay: '5min' });
    // A section with no commands is the same either way.
    expect(resolveEngineConfig({ standby_cluster: { host: 'remote' } }).config.standbyCluster).toMatchObject({ host: 'remote', port: 5432, recoveryConf: {} });
  });

  it('a section without a host is ignored with a warning naming the key', () => {
    const { config: c, warnings } = resolveEngineConfig({ standby_cluster: { port: 5432 } });
    expect(c.standbyCluster).toBeNull();
    expect(warnings.join('\n')).toContain('config.standby_cluster.host');
  });
});

describe('a running cluster turned into a standby cluster', () => {
  it('its primary demotes at once, keeps the lock and follows the remote primary as the standby leader', () => {
    const d = decide(leaderSnapshot({ config: standbyConfig, local: runningPrimary() }));
    expect(summary(d)).toEqual({ rule: 'primary-in-standby-cluster', reason: 'cannot be a real primary in standby cluster', actions: ['renew_lock', `demote(immediate-nolock)`] });
    const action = actionOf(d, 'demote');
    expect(action.mode).toBe('immediate-nolock');
    expect(action.follow).toEqual({
      name: REMOTE,
      connUrl: `postgres://${REMOTE}/postgres`,
      remote: { slotName: 'standby_a', recoveryConf: { restore_command: 'cp /wal/%f %p' }, createReplicaMethods: null },
    });
  });

  it('once demoted it is the standby leader; paused, the primary is left alone', () => {
    expect(decide(standbyLeader()).rule).toBe('standby-leader');
    const paused = decide(leaderSnapshot({ config: config({ standby_cluster: STANDBY, pause: true }), local: runningPrimary() }));
    expect(paused.rule).toBe('paused');
    expect(paused.actions.map((a) => a.kind)).not.toContain('demote');
  });
});

describe('the standby leader', () => {
  it('renews the lock and does not promote', () => {
    const d = decide(standbyLeader());
    expect(summary(d)).toEqual({ rule: 'standby-leader', reason: 'no action. I am (pg0), the standby leader with the lock', actions: ['renew_lock'] });
    expect(actionOf(d, 'renew_lock').otherwise?.actions).toEqual([]);
    expect(d.member?.role).toBe('standby_leader');
  });

  it('re-points PostgreSQL at the remote primary, with its slot and recovery settings', () => {
    const d = decide(standbyLeader({ local: runningReplica({ following: 'pg1' }) }));
    expect(summary(d).actions).toEqual(['renew_lock', `follow(${REMOTE})`]);
    expect(actionOf(d, 'follow').target).toEqual({
      name: REMOTE,
      connUrl: `postgres://${REMOTE}/postgres`,
      remote: { slotName: 'standby_a', recoveryConf: { restore_command: 'cp /wal/%f %p' }, createReplicaMethods: null },
    });
  });

  it('keeps the slots of the members cascading from it', () => {
    const d = decide(standbyLeader({ config: config({ standby_cluster: STANDBY }, { use_slots: true }), local: runningReplica({ following: REMOTE, slots: [] }) }));
    expect(summary(d).actions).toEqual(['renew_lock', 'sync_slots(+pg1,+pg2)']);
    expect(actionOf(d, 'renew_lock').status?.retain_slots).toEqual(['pg1', 'pg2']);
  });

  it('starts PostgreSQL as a replica of the remote primary after a crash', () => {
    const d = decide(standbyLeader({ local: stopped('replica') }));
    expect(summary(d)).toEqual({
      rule: 'standby-leader-down',
      reason: 'starting as a standby leader because i had the session lock',
      actions: ['renew_lock', `start(replica→${REMOTE})`],
    });
  });

  it('promotes once the standby_cluster section is removed', () => {
    const d = decide(standbyLeader({ config: config({ standby_cluster: null }) }));
    expect(summary(d)).toMatchObject({ rule: 'leader-with-lock', reason: 'promoted self to leader because I had the session lock' });
    expect(summary(d).actions).toContain('promote');
  });

  it('hands over on a switchover request like a primary would', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' } });
    const d = decide(standbyLeader({ cluster, peers: [peer('pg1')] }));
    expect(summary(d)).toMatchObject({ rule: 'standby-leader', reason: 'switchover: demoting myself' });
    expect(summary(d).actions).toEqual(['renew_lock', 'demote(graceful)']);
  });
});

describe('the other members', () => {
  it('cascade from the standby leader', () => {
    const d = decide(snapshot({ config: standbyConfig, local: runningReplica({ following: REMOTE }) }));
    expect(summary(d)).toEqual({ rule: 'follower', reason: 'changing primary_conninfo and restarting', actions: ['follow(pg0)'] });
    expect(actionOf(d, 'follow').target?.remote).toBeUndefined();
    expect(d.member?.role).toBe('replica');
  });

  it('the winner of the leader race becomes the standby leader instead of promoting', () => {
    const d = decide(snapshot({ config: standbyConfig, cluster: unlockedCluster(), local: runningReplica({ streaming: false }), peers: [peer('pg0', { reachable: false }), peer('pg2')] }));
    expect(summary(d)).toEqual({
      rule: 'lock-free',
      reason: 'promoted self to a standby leader by acquiring session lock',
      actions: ['acquire_lock', `follow(${REMOTE})`],
    });
  });
});

describe('a new standby cluster', () => {
  it('clones the remote primary instead of running initdb', () => {
    const d = decide(snapshot({ config: standbyConfig, cluster: emptyCluster(), local: emptyDataDirectory() }));
    expect(summary(d)).toEqual({
      rule: 'empty-data-directory',
      reason: 'trying to bootstrap a new standby leader',
      actions: ['attempt_initialize', `create_replica(${REMOTE})`],
    });
    expect(actionOf(d, 'create_replica').follow?.name).toBe(REMOTE);
  });

  it('gives the initialize key back after a failed clone', () => {
    const cluster = { ...emptyCluster(), initialize: { value: '', version: '1' } };
    const lastAction = { kind: 'create_replica' as const, label: 'bootstrap a new standby leader', ok: false, error: 'connection refused', startedAt: 1, finishedAt: 2 };
    const d = decide(snapshot({ config: standbyConfig, cluster, local: emptyDataDirectory(), lastAction }));
    expect(summary(d)).toEqual({
      rule: 'empty-data-directory',
      reason: 'removing initialize key after failed attempt to bootstrap the standby cluster',
      actions: ['cancel_initialize'],
    });
  });

  it('another new member clones from the standby leader once there is one', () => {
    const cluster = clusterWithLeader({ members: [member('pg0', { role: 'standby_leader' })] });
    const d = decide(snapshot({ config: standbyConfig, cluster, local: emptyDataDirectory() }));
    expect(summary(d)).toMatchObject({ rule: 'empty-data-directory', reason: "trying to bootstrap from leader 'pg0'" });
  });
});
