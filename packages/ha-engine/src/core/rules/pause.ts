/**
 * Maintenance mode (`pause: true` in the dynamic config): the agent keeps the DCS up to date but
 * does not start, stop, promote or demote anything on its own. The lock holder keeps its lock as
 * long as PostgreSQL runs as primary; a primary without the lock takes a free one; nobody fails
 * over. Management requests (restart, reinitialize) still run: an operator asked for them, as
 * does a switchover or failover to a named candidate (the REST API refuses one without).
 */
import type { Action } from '../actions.js';
import type { Ctx, Outcome } from './context.js';
import { only, otherwise } from './context.js';
import { leaderWithLock } from './leader.js';
import { leaderRace } from './race.js';

export function paused(ctx: Ctx): Outcome {
  const { s } = ctx;
  const disableWatchdog: Action = { kind: 'disable_watchdog' };
  if (!s.local.running) {
    if (ctx.holder) return { code: 'pause.release-not-running', reason: 'removed leader lock because postgres is not running', actions: [disableWatchdog, { kind: 'release_lock' }] };
    return { code: 'pause.postgres-not-running', reason: 'postgres is not running', actions: [disableWatchdog] };
  }
  const named = ctx.failover && !ctx.failover.scheduled_at ? ctx.failover.member : undefined;
  if (named) {
    // The leader hands over (graceful demote) and the named candidate races for the free lock.
    if (ctx.holder && ctx.isPrimary) {
      const handover = leaderWithLock(ctx);
      return { ...handover, actions: [disableWatchdog, ...handover.actions] };
    }
    if (!ctx.leaderName && named === ctx.me) return leaderRace(ctx);
  }
  if (ctx.holder) {
    if (!ctx.isPrimary) {
      return { code: 'pause.release-not-primary', reason: 'removed leader lock because postgres is not running as primary', actions: [disableWatchdog, { kind: 'release_lock' }] };
    }
    return {
      code: 'pause.leader',
      reason: `no action. I am (${ctx.me}), the leader with the lock`,
      actions: [
        disableWatchdog,
        {
          kind: 'renew_lock',
          status: { optime: s.local.lsn, slots: {}, retain_slots: [] },
          otherwise: otherwise('pause.renew-failed', 'continue to run as primary after failing to update leader lock in DCS'),
        },
      ],
    };
  }
  if (!ctx.leaderName) {
    if (ctx.isPrimary) {
      return {
        code: 'pause.acquired-lock',
        reason: 'acquired session lock as a leader',
        actions: [disableWatchdog, { kind: 'acquire_lock', otherwise: otherwise('pause.primary-without-lock', 'continue to run as primary without lock') }],
      };
    }
    return { ...only('pause.no-leader', `no action. I am (${ctx.me})`), actions: [disableWatchdog] };
  }
  if (ctx.isPrimary) return { code: 'pause.primary-without-lock', reason: 'continue to run as primary without lock', actions: [disableWatchdog] };
  return {
    code: 'pause.follow',
    reason: `no action. I am (${ctx.me}), a secondary, and following a leader (${ctx.leaderName})`,
    actions: [disableWatchdog],
  };
}
