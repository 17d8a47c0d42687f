// The step order of each long action, and which demote modes give the leader key up
// (core/long-action-steps.ts).
import { describe, expect, it } from 'vitest';
import type { DemoteMode, FollowTarget, LongAction } from '../src/index.js';
import { demoteReleasesLock, isSynchronousStandby, longActionSteps, primaryStopTimeoutMs, resolveEngineConfig, shutdownPlan } from '../src/index.js';
import type { ClusterConfig } from '@pgha/dcs';

const pg0: FollowTarget = { name: 'pg0', connUrl: 'postgres://pg0:5432/postgres' };
const kinds = (action: LongAction): string[] => longActionSteps(action, 30_000).map((s) => (s.kind === 'stop' ? `stop(${s.mode}${s.checkpoint ? ',checkpoint' : ''}${s.abortable ? '' : ',not abortable'})` : s.kind));

describe('longActionSteps', () => {
  it('demote: stop, then disarm the watchdog, then release (graceful, immediate), then start as a replica', () => {
    const modes: DemoteMode[] = ['graceful', 'immediate', 'immediate-nolock', 'offline'];
    expect(Object.fromEntries(modes.map((mode) => [mode, kinds({ kind: 'demote', mode, follow: pg0, label: 'demote' })]))).toMatchInlineSnapshot(`
      {
        "graceful": [
          "stop(fast,checkpoint,not abortable)",
          "disable_watchdog",
          "release_lock",
          "start",
        ],
        "immediate": [
          "stop(immediate,not abortable)",
          "disable_watchdog",
          "release_lock",
          "start",
        ],
        "immediate-nolock": [
          "stop(immediate,not abortable)",
          "disable_watchdog",
          "start",
        ],
        "offline": [
          "stop(fast,not abortable)",
          "disable_watchdog",
          "start",
        ],
      }
    `);
  });
  it('only graceful and immediate release the lock', () => {
    expect((['graceful', 'immediate', 'immediate-nolock', 'offline'] as const).filter(demoteReleasesLock)).toEqual(['graceful', 'immediate']);
  });
  it('reinitialize: stop immediately, remove the data directory, clone, start; rewind: pg_rewind, start', () => {
    expect(kinds({ kind: 'reinitialize', source: pg0, follow: pg0, label: 'reinitialize' })).toEqual(['stop(immediate)', 'remove_data_directory', 'clone', 'start']);
    expect(kinds({ kind: 'rewind', source: pg0, label: 'rewind' })).toEqual(['rewind', 'start']);
  });
  it('a start that ends an action is a replica start following the target, bounded by the given timeout', () => {
    expect(longActionSteps({ kind: 'rewind', source: pg0, label: 'rewind' }, 42_000).at(-1)).toEqual({
      kind: 'start',
      what: 'starting as a replica',
      role: 'replica',
      follow: pg0,
      timeoutMs: 42_000,
    });
  });
  it('restart copies logical slots first when asked', () => {
    expect(kinds({ kind: 'restart', label: 'restart', copyLogicalSlots: { source: pg0, slots: ['s'] } })).toEqual(['copy_logical_slots', 'restart']);
  });
});

describe('primary_stop_timeout', () => {
  const config = (dcs: Record<string, unknown>) => resolveEngineConfig(dcs as ClusterConfig).config;

  it("bounds a primary's stop only with a positive value and synchronous mode on, as Patroni", () => {
    expect(primaryStopTimeoutMs(config({ primary_stop_timeout: 30, synchronous_mode: true }))).toBe(30_000);
    expect(primaryStopTimeoutMs(config({ master_stop_timeout: 12, synchronous_mode: 'quorum' }))).toBe(12_000);
    expect(primaryStopTimeoutMs(config({ primary_stop_timeout: 30 }))).toBeNull();
    expect(primaryStopTimeoutMs(config({ primary_stop_timeout: 0, synchronous_mode: true }))).toBeNull();
    expect(primaryStopTimeoutMs(config({ synchronous_mode: true }))).toBeNull();
  });

  it("goes to the demote's stop, not to an immediate one", () => {
    const follow = pg0;
    const stopOf = (mode: DemoteMode) => longActionSteps({ kind: 'demote', mode, follow } as LongAction, 60_000, 30_000).find((s) => s.kind === 'stop');
    expect(stopOf('graceful')).toMatchObject({ kind: 'stop', mode: 'fast', timeoutMs: 30_000 });
    expect(stopOf('offline')).toMatchObject({ kind: 'stop', mode: 'fast', timeoutMs: 30_000 });
    expect(stopOf('immediate')).not.toHaveProperty('timeoutMs');
    expect(longActionSteps({ kind: 'demote', mode: 'graceful', follow } as LongAction, 60_000).find((s) => s.kind === 'stop')).not.toHaveProperty('timeoutMs');
  });
});

describe('a clean shutdown', () => {
  const config = (dcs: Record<string, unknown>) => resolveEngineConfig(dcs as ClusterConfig).config;

  it('in maintenance mode leaves PostgreSQL running and the lock in place, as Patroni', () => {
    expect(shutdownPlan(config({ pause: true }), true)).toEqual({ kind: 'leave-running', reason: 'Postgresql is not stopped due paused state; the leader key goes with this session and the next agent takes it again' });
    expect(shutdownPlan(config({ pause: 'on' }), false).kind).toBe('leave-running');
  });

  it("otherwise stops, then releases; the leader's stop bounded by primary_stop_timeout in synchronous mode", () => {
    expect(shutdownPlan(config({}), true)).toEqual({ kind: 'stop-then-release', stopTimeoutMs: null, releaseSync: null });
    expect(shutdownPlan(config({ primary_stop_timeout: 20, synchronous_mode: true }), true)).toEqual({ kind: 'stop-then-release', stopTimeoutMs: 20_000, releaseSync: null });
    expect(shutdownPlan(config({ primary_stop_timeout: 20, synchronous_mode: true }), false)).toMatchObject({ kind: 'stop-then-release', stopTimeoutMs: null });
  });

  it("asks the primary to release a replica from synchronous replication first (Patroni's while_not_sync_standby), waiting up to 2 × loop_wait", () => {
    const release = (dcs: Record<string, unknown>, holdsLock: boolean, tags: Record<string, unknown> = {}) => {
      const plan = shutdownPlan(config(dcs), holdsLock, tags);
      return plan.kind === 'stop-then-release' ? plan.releaseSync : 'leave-running';
    };
    expect(release({ synchronous_mode: true, loop_wait: 5 }, false)).toEqual({ waitMs: 10_000 });
    expect(release({ synchronous_mode: 'quorum', loop_wait: 1 }, false)).toEqual({ waitMs: 2000 });
    // Not the leader, not without synchronous mode, not in a standby cluster, not when nosync already.
    expect(release({ synchronous_mode: true }, true)).toBeNull();
    expect(release({}, false)).toBeNull();
    expect(release({ synchronous_mode: true, standby_cluster: { host: '10.0.0.1', port: 5432 } }, false)).toBeNull();
    expect(release({ synchronous_mode: true }, false, { nosync: true })).toBeNull();
    expect(release({ synchronous_mode: true }, false, { nosync: false })).toEqual({ waitMs: 20_000 });
  });
});

describe('isSynchronousStandby', () => {
  const cluster = (leader: string | null, syncLeader: string | null, standbys: string[]) => ({
    leader: leader ? { name: leader, version: '1' } : null,
    sync: { version: '1', value: { leader: syncLeader, sync_standby: standbys, quorum: 0 } },
  });
  it("is Patroni's is_sync_standby: the current leader's /sync names the member (any case)", () => {
    expect(isSynchronousStandby(cluster('pg0', 'pg0', ['pg1']), 'pg1')).toBe(true);
    expect(isSynchronousStandby(cluster('pg0', 'pg0', ['PG1']), 'pg1')).toBe(true);
    expect(isSynchronousStandby(cluster('pg0', 'pg0', ['pg2']), 'pg1')).toBe(false);
    // A /sync key left by an old leader, or no leader: released.
    expect(isSynchronousStandby(cluster('pg2', 'pg0', ['pg1']), 'pg1')).toBe(false);
    expect(isSynchronousStandby(cluster(null, 'pg0', ['pg1']), 'pg1')).toBe(false);
    expect(isSynchronousStandby({ leader: { name: 'pg0', version: '1' }, sync: null }, 'pg1')).toBe(false);
  });
});
