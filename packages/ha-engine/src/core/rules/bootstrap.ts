/**
 * A new cluster and new members: the `initialize` race, cloning from the leader, finishing a
 * bootstrap, and the system-ID checks that keep a node out of a cluster it does not belong to.
 */
import { isInitialized, isNoFailover, type Cluster } from '@pgha/dcs';
import type { Action } from '../actions.js';
import type { ActionOutcome } from '../snapshot.js';
import type { Ctx, Outcome } from './context.js';
import { cloneSource, followTarget, only, otherwise } from './context.js';
import { standbyBootstrap } from './standby-leader.js';

/** Patroni: a system identifier has at least ten digits. */
export function isValidSysid(sysid: string | null | undefined): sysid is string {
  return typeof sysid === 'string' && /^\d{10,}$/.test(sysid);
}

/** The data directory is empty: release the lock if we hold it, else clone, bootstrap or wait. */
export function emptyDataDirectory(ctx: Ctx): Outcome {
  const { s, cluster } = ctx;
  if (ctx.holder) {
    return { code: 'bootstrap.release-lock', reason: 'released leader key voluntarily as data dir empty and currently leader', actions: [{ kind: 'release_lock' }] };
  }
  const notes = failedBefore(s.lastAction, ['create_replica', 'reinitialize']);
  if (ctx.leaderName) {
    const source = cloneSource(ctx);
    if (source) {
      const msg = `from ${source.role} '${source.target.name}'`;
      return {
        code: 'bootstrap.clone',
        reason: `trying to bootstrap ${msg}`,
        actions: [{ kind: 'create_replica', label: `bootstrap ${msg}`, source: source.target, follow: followTarget(ctx) }],
        notes,
      };
    }
  }
  const mayBootstrap = !isNoFailover(s.me.tags) && s.config.canBootstrap;
  // A member whose required watchdog is not usable could bootstrap but never keep the lock
  // after it (Patroni cancels the bootstrap and exits): it leaves the race to the others.
  if (mayBootstrap && !s.watchdogHealthy) {
    return only('bootstrap.wait-for-leader', 'waiting for leader to bootstrap', [...notes, 'not racing to bootstrap: Watchdog device is not usable']);
  }
  const standby = s.config.standbyCluster;
  if (!ctx.leaderName && standby && mayBootstrap) {
    const outcome = standbyBootstrap(ctx, standby, notes);
    if (outcome) return outcome;
  }
  if (cluster.initialize === null && mayBootstrap) {
    return {
      code: 'bootstrap.new-cluster',
      reason: 'trying to bootstrap a new cluster',
      actions: [
        { kind: 'attempt_initialize', otherwise: otherwise('bootstrap.initialize-lost', 'failed to acquire initialize lock'), onError: otherwise('dcs.unavailable', 'DCS is not accessible') },
        { kind: 'bootstrap', label: 'bootstrap' },
      ],
      notes,
    };
  }
  return only('bootstrap.wait-for-leader', 'waiting for leader to bootstrap', notes);
}

/** Our bootstrap finished (or failed) and `initialize` still waits for the system ID. */
export function afterBootstrap(ctx: Ctx, outcome: ActionOutcome): Outcome {
  const { s, cluster } = ctx;
  const sysid = s.local.systemId;
  const giveUp: Action[] = [
    { kind: 'cancel_initialize', otherwise: otherwise('bootstrap.cancel-failed', 'failed to remove the initialize key after a failed bootstrap') },
    { kind: 'exit', message: `Failed to bootstrap cluster${outcome.error ? `: ${outcome.error}` : ''}` },
  ];
  if (!outcome.ok || !ctx.isPrimary || !isValidSysid(sysid)) {
    return {
      code: 'bootstrap.failed',
      reason: 'removing initialize key after failed attempt to bootstrap the cluster',
      actions: giveUp,
      notes: [outcome.error ?? 'PostgreSQL is not running as a primary after bootstrap'],
    };
  }
  const actions: Action[] = [
    { kind: 'activate_watchdog', otherwise: otherwise('bootstrap.watchdog-failed', 'Cancelling bootstrap because watchdog activation failed', giveUp) },
    {
      kind: 'set_initialize',
      sysid,
      expectVersion: cluster.initialize?.version ?? null,
      otherwise: otherwise('bootstrap.sysid-write-failed', 'failed to write the system ID to the initialize key'),
    },
  ];
  if (configMissing(cluster)) actions.push({ kind: 'write_config', config: s.config.bootstrapDcs });
  actions.push({ kind: 'acquire_lock', otherwise: otherwise('bootstrap.lock-failed', 'failed to acquire the leader lock after bootstrap') });
  return { code: 'bootstrap.initialized', reason: 'initialized a new cluster', actions };
}

/** Patroni refuses to run on a data directory of another cluster: an operator must act. */
export function sysidMismatch(ctx: Ctx): Outcome | null {
  const sysid = ctx.s.local.systemId;
  const expected = ctx.cluster.initialize?.value;
  if (!isInitialized(ctx.cluster) || sysid === expected) return null;
  const message = `system ID mismatch, node ${ctx.me} belongs to a different cluster: ${expected} != ${sysid}`;
  return { code: 'sysid.mismatch', reason: message, actions: [{ kind: 'exit', message }] };
}

/**
 * No `initialize` key although our data directory holds a cluster. A primary (or a stopped
 * server) adopts it by recording its system ID; a running replica must not claim a cluster it
 * only copies, so the agent stops and waits for the primary's agent to start first.
 */
export function uninitializedReplica(ctx: Ctx): Outcome | null {
  const { s, cluster } = ctx;
  if (cluster.initialize !== null || cluster.leader !== null) return null;
  if (!(s.local.running && s.local.role === 'replica')) return null;
  const message = 'No initialize key in DCS and PostgreSQL is running as replica, aborting start';
  return { code: 'sysid.uninitialized-replica', reason: message, actions: [{ kind: 'exit', message }], notes: ['Please first start Patroni on the node running as primary'] };
}

/**
 * DCS bookkeeping before the rules proper (Patroni's `_run_cycle` step 4): the lock holder
 * repairs a missing `initialize` or `config`; a node with data and no `initialize` key adopts it.
 */
export function housekeeping(ctx: Ctx): Action[] {
  const { s, cluster } = ctx;
  const actions: Action[] = [];
  const sysid = s.local.systemId;
  if (isValidSysid(sysid) && !isInitialized(cluster)) {
    const adopt = cluster.initialize === null && cluster.leader === null && !(s.local.running && s.local.role === 'replica');
    if (ctx.holder || adopt) {
      actions.push({ kind: 'set_initialize', sysid, expectVersion: cluster.initialize?.version ?? null });
    }
  }
  if (ctx.holder && configMissing(cluster)) actions.push({ kind: 'write_config', config: s.config.bootstrapDcs });
  return actions;
}

function failedBefore(last: ActionOutcome | null, kinds: string[]): string[] {
  return last && !last.ok && kinds.includes(last.kind) ? [`failed to ${last.label}: ${last.error ?? 'unknown error'}`] : [];
}

/**
 * No `config` key at all. A key that exists but does not parse is the operator's to fix: writing
 * bootstrap.dcs over it would lose their edit (and the create-if-absent write fails anyway).
 */
function configMissing(cluster: Cluster): boolean {
  return cluster.config === null && !cluster.configError;
}
