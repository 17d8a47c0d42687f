/**
 * A background action is running (Patroni's `handle_long_action_in_progress`). The lock holder
 * keeps renewing; a member that is not (or no longer) the holder stops a promotion or demotes a
 * primary at once, aborting the running action.
 */
import type { RunningAction } from '../snapshot.js';
import type { Ctx, Outcome } from './context.js';
import { demote, followTarget, only, otherwise } from './context.js';

export function longActionInProgress(ctx: Ctx, running: RunningAction): Outcome {
  const lost = withoutLock(ctx, running);
  if (!ctx.holder) return lost;
  return {
    code: 'long-action.lock-renewed',
    reason: `updated leader lock during ${running.label}`,
    actions: [
      {
        kind: 'renew_lock',
        status: null,
        otherwise: { code: lost.code, reason: lost.reason, actions: lost.actions },
        onError: otherwise('long-action.renew-failed', `${running.label} in progress; failed to update leader lock in DCS`),
      },
    ],
  };
}

function withoutLock(ctx: Ctx, running: RunningAction): Outcome {
  // A bootstrapping node holds no lock yet; its bootstrap must run to the end.
  if (running.kind === 'bootstrap' || ctx.s.config.pause) return only('long-action.in-progress', `${running.label} in progress`);
  // Already on the way down.
  if (running.kind === 'demote' || running.kind === 'stop') return only('long-action.in-progress', `${running.label} in progress`);
  if (running.kind === 'promote') {
    return { code: 'long-action.lost-before-promote', reason: 'lost leader before promote', actions: [demote('immediate-nolock', followTarget(ctx), true)] };
  }
  if (ctx.isPrimary) {
    return {
      code: 'long-action.lost-lock',
      reason: `lost leader lock during ${running.label}`,
      actions: [demote('immediate-nolock', followTarget(ctx), true)],
    };
  }
  return only('long-action.in-progress', `${running.label} in progress`, ctx.leaderName ? [] : ['not healthy enough for leader race']);
}
