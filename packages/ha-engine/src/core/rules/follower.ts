/**
 * Another member holds the lock (Patroni's `follow`): a primary demotes; a diverged replica is
 * rewound or re-cloned per policy; a replica streaming from the wrong member is re-pointed.
 */
import type { RejoinPlan } from '../rejoin.js';
import { CHECKPOINT_RECHECK_MS, planRejoin } from '../rejoin.js';
import { notStreamingBoundMs, receiverRepair } from '../wal-receiver.js';
import type { Ctx, Outcome } from './context.js';
import { demote, followChoice, followingNobody, followTarget, only, targetOf } from './context.js';

export function follower(ctx: Ctx): Outcome {
  const { s } = ctx;
  const choice = followChoice(ctx);
  const target = choice.kind === 'member' ? choice.target : null;
  if (ctx.isPrimary) {
    return {
      code: 'follow.demote',
      reason: `demoting self because I do not have the lock and I was a leader${followingNobody(choice)}`,
      actions: [demote('immediate-nolock', target)],
    };
  }
  const plan = planRejoin({ local: s.local, cluster: ctx.cluster, config: s.config, memory: ctx.memory });
  const rejoin = rejoinOutcome(ctx, plan);
  if (rejoin) return rejoin;
  const notes = plan.kind === 'stuck' ? [plan.why] : [];
  const repair = receiverRepair(ctx);
  if (repair) return { ...repair, notes: [...notes, ...(repair.notes ?? [])] };
  const receiver = ctx.memory.receiver;
  if (receiver) notes.push(`not streaming from ${receiver.upstream} for ${Math.round((s.now - receiver.since) / 1000)} s (repaired after ${notStreamingBoundMs(s.config) / 1000} s)`);
  if (target && s.local.following !== target.name) {
    return {
      code: 'follow.repoint',
      reason: 'changing primary_conninfo and restarting',
      actions: [{ kind: 'follow', target, label: 'changing primary_conninfo and restarting' }],
      notes,
    };
  }
  return only('follow.leader', `no action. I am (${ctx.me}), a secondary, and following a leader (${ctx.leaderName})${followingNobody(choice, 'not streaming from it')}`, notes);
}

/** The actions of a rejoin plan; null when nothing is to be done (or can be done) about divergence. */
export function rejoinOutcome(ctx: Ctx, plan: RejoinPlan): Outcome | null {
  const leader = ctx.leaderName;
  if (!leader) return null;
  const source = targetOf(ctx, ctx.cluster.members.find((m) => m.name === leader), leader);
  switch (plan.kind) {
    case 'rewind':
      return {
        code: 'rejoin.rewind',
        reason: `running pg_rewind from ${leader}`,
        actions: [{ kind: 'rewind', source, label: `running pg_rewind from ${leader}` }],
        notes: [plan.why],
      };
    case 'reinitialize':
      return {
        code: 'rejoin.reinitialize',
        reason: 'reinitializing due to diverged timelines',
        actions: [{ kind: 'reinitialize', source, follow: followTarget(ctx), label: 'reinitializing due to diverged timelines' }],
        notes: [plan.why],
      };
    case 'wait_checkpoint':
      return { ...only('rejoin.wait-checkpoint', `Waiting for checkpoint on ${leader} before rewind`, [plan.why]), wakeAfterMs: CHECKPOINT_RECHECK_MS };
    default:
      return null;
  }
}
