/**
 * Management requests recorded by the REST API: restart (now or scheduled) and reinitialize.
 * Each is consumed by the decision that acts on it or refuses it.
 */
import type { Action } from '../actions.js';
import type { Ctx, Outcome } from './context.js';
import { cloneSource, followTarget, only, targetOf } from './context.js';
import { reinitializeRefusal } from '../reinitialize.js';

export function reinitializeRequested(ctx: Ctx, fromLeader: boolean): Outcome {
  const consume: Action = { kind: 'consume_intent', intent: 'reinitialize' };
  const refusal = reinitializeRefusal({ leaderName: ctx.leaderName, holdsLock: ctx.holder });
  if (refusal) return { ...only(refusal.code, refusal.sentence), actions: [consume] };
  const leaderName = ctx.leaderName!; // a reinitialize without a leader was refused just above
  const leader = targetOf(ctx, ctx.cluster.members.find((m) => m.name === leaderName), leaderName);
  const source = fromLeader ? leader : (cloneSource(ctx)?.target ?? leader);
  return {
    code: 'reinitialize.started',
    reason: 'reinitialize started',
    actions: [consume, { kind: 'reinitialize', source, follow: followTarget(ctx), label: 'reinitialize' }],
  };
}

/** A restart asked for now, or a scheduled one that fell due (`scheduled`, scheduled-restart.ts). */
export function restartRequested(ctx: Ctx, scheduled: boolean): Outcome {
  const consume: Action = { kind: 'consume_intent', intent: scheduled ? 'scheduledRestart' : 'restart' };
  const actions: Action[] = [];
  // The holder renews first, so the restart starts with a full lease ahead of it.
  if (ctx.holder) actions.push({ kind: 'renew_lock', status: null, otherwise: { code: 'lock.renew-failed', reason: 'failed to update leader lock in DCS', actions: [consume] } });
  actions.push(consume, { kind: 'restart', label: 'restart' });
  if (scheduled) return { code: 'restart.scheduled', reason: `restarting PostgreSQL as scheduled at ${ctx.s.intents.scheduledRestart?.schedule ?? ''}`, actions };
  return { code: 'restart.requested', reason: 'restarting PostgreSQL as requested', actions };
}
