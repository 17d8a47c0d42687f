/**
 * Standby cluster (the dynamic `standby_cluster` section): the member holding the leader lock is
 * the standby leader. It never promotes; it runs PostgreSQL as a replica of the remote primary
 * (`standby_cluster.host:port`) and the other members cascade from it (followTarget in
 * context.ts). Removing the section turns the cluster into a normal one: the lock holder is then
 * a replica with the lock, and leader.ts promotes it.
 */
import type { Action } from '../actions.js';
import type { StandbyClusterConfig } from '../standby-cluster.js';
import { remotePrimaryTarget } from '../standby-cluster.js';
import { receiverRepair } from '../wal-receiver.js';
import type { Ctx, Outcome } from './context.js';
import { demote, otherwise } from './context.js';
import { manualFailoverFromLeader } from './leader.js';

/** The label of the clone that bootstraps a new standby cluster (a failed one gives `initialize` back). */
export const STANDBY_BOOTSTRAP_LABEL = 'bootstrap a new standby leader';

/** The standby cluster section when this member leads a standby cluster as a replica, else null. */
export function standbyLeading(ctx: Ctx): StandbyClusterConfig | null {
  const standby = ctx.s.config.standbyCluster;
  return standby && ctx.holder && !ctx.isPrimary ? standby : null;
}

/** We hold the lock in a standby cluster and PostgreSQL runs: renew, and stream from the remote primary. */
export function standbyLeaderWithLock(ctx: Ctx, standby: StandbyClusterConfig): Outcome {
  const { s } = ctx;
  const renew: Action = {
    kind: 'renew_lock',
    status: { optime: s.local.lsn, slots: {}, retain_slots: [] },
    otherwise: otherwise('leader.renew-failed-not-promoting', 'not promoting because failed to update leader lock in DCS'),
  };
  const reason = `no action. I am (${ctx.me}), the standby leader with the lock`;
  // A switchover inside the standby cluster hands the standby leader role over like a primary would.
  const manual = manualFailoverFromLeader(ctx);
  if (manual) return { ...manual, actions: [renew, ...manual.actions] };
  const repair = receiverRepair(ctx);
  if (repair) return { ...repair, actions: [renew, ...repair.actions] };
  const target = remotePrimaryTarget(standby);
  if (s.local.following !== target.name) {
    return { code: 'standby.leader', reason, actions: [renew, { kind: 'follow', target, label: `following the remote primary ${target.name}` }] };
  }
  return { code: 'standby.leader', reason, actions: [renew] };
}

/**
 * `standby_cluster` was added to the dynamic configuration of a running cluster, and we are its
 * primary: a standby cluster has no writable member, so stop PostgreSQL at once and start it
 * again as a replica of the remote primary, keeping the lock, so this member becomes the standby
 * leader (Patroni: `cannot be a real primary in standby cluster`). The remote must have the same
 * system identifier, and WAL written here since the two diverged must be rewound away.
 */
export function primaryInStandbyCluster(standby: StandbyClusterConfig): Outcome {
  return {
    code: 'standby.demote-primary',
    reason: 'cannot be a real primary in standby cluster',
    actions: [
      { kind: 'renew_lock', status: null, otherwise: otherwise('lock.renew-failed', 'failed to update leader lock in DCS') },
      demote('immediate-nolock', remotePrimaryTarget(standby), false, 'demoting to a standby leader'),
    ],
  };
}

/** We hold the lock in a standby cluster and PostgreSQL is down: start it as a replica of the remote primary. */
export function standbyLeaderDown(ctx: Ctx, standby: StandbyClusterConfig): Outcome {
  const { config } = ctx.s;
  return {
    code: 'standby.start-with-lock',
    reason: 'starting as a standby leader because i had the session lock',
    actions: [
      { kind: 'renew_lock', status: null, otherwise: otherwise('lock.renew-failed', 'failed to update leader lock in DCS') },
      {
        kind: 'start',
        role: 'replica',
        follow: remotePrimaryTarget(standby),
        label: 'starting as a standby leader',
        timeoutMs: Math.max(config.primaryStartTimeout, config.loopWait) * 1000,
      },
    ],
  };
}

/**
 * We won the leader race in a standby cluster: take the lock and re-point PostgreSQL at the
 * remote primary instead of promoting.
 */
export function standbyLeaderRace(ctx: Ctx, standby: StandbyClusterConfig, notes: string[]): Outcome {
  const clearFailover: Action[] = ctx.failover ? [{ kind: 'clear_failover' }] : [];
  const target = remotePrimaryTarget(standby);
  return {
    code: 'race.won.standby-leader',
    reason: 'promoted self to a standby leader by acquiring session lock',
    actions: [
      {
        kind: 'acquire_lock',
        otherwise: otherwise('race.lost', 'following new leader after trying and failing to obtain lock'),
        onError: otherwise('dcs.unavailable', 'DCS is not accessible'),
      },
      ...clearFailover,
      { kind: 'follow', target, label: `following the remote primary ${target.name}` },
    ],
    notes,
  };
}

/**
 * A new member of a standby cluster with an empty data directory and no cluster yet: race for
 * `initialize`, then clone the remote primary instead of running initdb. A failed clone gives
 * the `initialize` key back so another attempt (ours or another member's) can start.
 */
export function standbyBootstrap(ctx: Ctx, standby: StandbyClusterConfig, notes: string[]): Outcome | null {
  const { s, cluster } = ctx;
  const last = s.lastAction;
  if (cluster.initialize?.value === '' && last?.kind === 'create_replica' && !last.ok && last.label === STANDBY_BOOTSTRAP_LABEL) {
    return {
      code: 'bootstrap.standby-failed',
      reason: 'removing initialize key after failed attempt to bootstrap the standby cluster',
      actions: [{ kind: 'cancel_initialize', otherwise: otherwise('bootstrap.cancel-failed', 'failed to remove the initialize key after a failed bootstrap') }],
      notes,
    };
  }
  if (cluster.initialize !== null) return null;
  const target = remotePrimaryTarget(standby);
  return {
    code: 'bootstrap.standby-leader',
    reason: 'trying to bootstrap a new standby leader',
    actions: [
      { kind: 'attempt_initialize', otherwise: otherwise('bootstrap.initialize-lost', 'failed to acquire initialize lock'), onError: otherwise('dcs.unavailable', 'DCS is not accessible') },
      { kind: 'create_replica', label: STANDBY_BOOTSTRAP_LABEL, source: target, follow: target },
    ],
    notes,
  };
}
