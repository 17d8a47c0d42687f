/**
 * PostgreSQL is not running (Patroni's `recover`). The lock holder restarts a crashed primary in
 * place, within `primary_start_timeout`, and fails over instead when that runs out (or at once
 * with `primary_start_timeout: 0`) and another member can take over. Everybody else starts as a
 * replica, after pg_rewind or a re-clone when its timeline diverged from the leader's.
 */
import { evaluateFailoverPossible } from '../candidate.js';
import { planRejoin } from '../rejoin.js';
import type { Ctx, Outcome } from './context.js';
import { demote, followChoice, followingNobody, followTarget, otherwise } from './context.js';
import { rejoinOutcome } from './follower.js';

export function postgresDown(ctx: Ctx): Outcome {
  const { s } = ctx;
  if (ctx.holder) {
    if (s.local.role === 'primary') return crashedPrimary(ctx);
    return {
      code: 'recover.readonly-with-lock',
      reason: 'starting as readonly because i had the session lock',
      actions: [
        { kind: 'renew_lock', status: null, otherwise: otherwise('lock.renew-failed', 'failed to update leader lock in DCS') },
        { kind: 'start', role: 'replica', follow: null, label: 'restarting after failure', timeoutMs: startTimeoutMs(ctx) },
      ],
    };
  }
  const plan = planRejoin({ local: s.local, cluster: ctx.cluster, config: s.config, memory: ctx.memory });
  const rejoin = rejoinOutcome(ctx, plan);
  if (rejoin) return rejoin;
  return {
    code: 'recover.secondary',
    reason: `starting as a secondary${followingNobody(followChoice(ctx))}`,
    actions: [{ kind: 'start', role: 'replica', follow: followTarget(ctx), label: 'restarting after failure', timeoutMs: startTimeoutMs(ctx) }],
    notes: plan.kind === 'stuck' ? [plan.why] : [],
  };
}

/** Our primary crashed while we hold the lock. */
function crashedPrimary(ctx: Ctx): Outcome {
  const { s } = ctx;
  const timeoutMs = s.config.primaryStartTimeout * 1000;
  const deadline = ctx.memory.primaryStartDeadline;
  const timedOut = timeoutMs === 0 || (deadline !== null && s.now >= deadline);
  const renew = { kind: 'renew_lock' as const, status: null, otherwise: otherwise('lock.renew-failed', 'failed to update leader lock in DCS') };

  if (timedOut) {
    const possible = evaluateFailoverPossible(ctx.candidate, ctx.cluster.members);
    if (possible.kind === 'probe') {
      return { code: 'failover.checking', reason: 'checking whether a failover is possible', actions: [{ kind: 'probe_peers', members: possible.members }] };
    }
    if (possible.kind === 'yes') {
      return {
        code: timeoutMs === 0 ? 'recover.failover-after-crash' : 'leader.start-timeout',
        reason: timeoutMs === 0 ? 'stopped PostgreSQL to fail over after a crash' : 'stopped PostgreSQL because of startup timeout',
        actions: [renew, demote('immediate', null)],
        notes: possible.notes,
        memory: { primaryStartDeadline: null },
      };
    }
    if (timeoutMs > 0) {
      return {
        code: 'leader.start-timeout-no-failover',
        reason: 'primary start has timed out, but continuing to wait because failover is not possible',
        actions: [renew, { kind: 'start', role: 'primary', follow: null, label: 'starting primary after failure', timeoutMs }],
        notes: possible.notes,
      };
    }
    // primary_start_timeout 0 and nobody to fail over to: restart in place after all.
  }
  const until = deadline ?? s.now + timeoutMs;
  return {
    code: 'recover.primary',
    reason: 'starting primary after failure',
    actions: [
      renew,
      {
        kind: 'start',
        role: 'primary',
        follow: null,
        label: 'starting primary after failure',
        timeoutMs: Math.max(until - s.now, s.config.loopWait * 1000),
      },
    ],
    memory: { primaryStartDeadline: until },
  };
}

/** How long a replica start may take before it counts as failed. */
function startTimeoutMs(ctx: Ctx): number {
  return Math.max(ctx.s.config.primaryStartTimeout, ctx.s.config.loopWait) * 1000;
}

