/**
 * We hold the lock and PostgreSQL runs (Patroni's `process_healthy_cluster` with the lock):
 * renew (publishing the optime), promote if we are still a replica, keep `history` up to date,
 * hand over on a switchover request; and a primary still starting after a crash.
 */
import type { Action } from '../actions.js';
import { evaluateFailoverPossible, matchesSyncGate, syncGate } from '../candidate.js';
import type { Ctx, Outcome } from './context.js';
import { demote, only, otherwise } from './context.js';
import { syncBeforePromote } from './sync.js';

export function leaderWithLock(ctx: Ctx): Outcome {
  const { s } = ctx;
  if (!ctx.isPrimary) {
    return {
      code: 'leader.promote',
      reason: 'promoted self to leader because I had the session lock',
      actions: [
        { kind: 'renew_lock', status: null, otherwise: otherwise('leader.renew-failed-not-promoting', 'not promoting because failed to update leader lock in DCS') },
        {
          kind: 'activate_watchdog',
          otherwise: otherwise('watchdog.not-promoting', 'Not promoting self because watchdog could not be activated', [{ kind: 'release_lock' }]),
        },
        ...syncBeforePromote(ctx),
        { kind: 'promote', label: 'promote' },
      ],
    };
  }
  const renew: Action = {
    kind: 'renew_lock',
    status: { optime: s.local.lsn, slots: {}, retain_slots: [] },
    otherwise: otherwise('leader.renew-lost', 'demoted self because failed to update leader lock in DCS', [demote('immediate-nolock', null)]),
    // The lease may still be ours: keep serving until the safety deadline, which stops PostgreSQL
    // on its own if no renewal succeeds before it.
    onError: otherwise('leader.renew-error', 'failed to update leader lock in DCS; continue to run as primary while the leader lock is valid'),
  };
  const housekeeping: Action[] = [renew, ...historyUpdate(ctx)];
  const manual = manualFailoverFromLeader(ctx);
  if (manual) return { ...manual, actions: [...housekeeping, ...manual.actions] };
  return { code: 'leader.renewed', reason: `no action. I am (${ctx.me}), the leader with the lock`, actions: housekeeping };
}

/**
 * A primary holding the lock is still starting after a crash (Patroni's
 * `handle_starting_instance`): wait up to `primary_start_timeout`, then fail over if possible.
 */
export function startingPrimary(ctx: Ctx, deadline: number): Outcome {
  const { s } = ctx;
  const lost = otherwise('leader.starting-lock-lost', 'stopped PostgreSQL while starting up because leader key was lost', [demote('immediate-nolock', null)]);
  const renew: Action = { kind: 'renew_lock', status: null, otherwise: lost };
  const left = deadline - s.now;
  if (left > 0) {
    return { code: 'leader.starting', reason: `PostgreSQL is still starting up, ${Math.ceil(left / 1000)} seconds until timeout`, actions: [renew] };
  }
  const possible = evaluateFailoverPossible(ctx.candidate, ctx.cluster.members);
  if (possible.kind === 'probe') {
    return { code: 'failover.checking', reason: 'checking whether a failover is possible', actions: [{ kind: 'probe_peers', members: possible.members }] };
  }
  if (possible.kind === 'yes') {
    return {
      code: 'leader.start-timeout',
      reason: 'stopped PostgreSQL because of startup timeout',
      actions: [renew, demote('immediate', null, true)],
      notes: possible.notes,
      memory: { primaryStartDeadline: null },
    };
  }
  return {
    code: 'leader.start-timeout-no-failover',
    reason: 'primary start has timed out, but continuing to wait because failover is not possible',
    actions: [renew],
    notes: possible.notes,
  };
}

/**
 * After a promotion the leader publishes the timeline history (Patroni's
 * `update_cluster_history`): when the last line is not the switch to our timeline, or lacks the
 * new leader's name; on timeline 1 a leftover history is cleared.
 */
function historyUpdate(ctx: Ctx): Action[] {
  const tl = ctx.s.local.timeline;
  if (tl === null) return [];
  const lines = ctx.cluster.history?.value ?? [];
  const last = lines[lines.length - 1];
  const stale = tl === 1 ? lines.length > 0 : !last || last.timeline !== tl - 1 || last.new_leader === undefined;
  if (!stale) return [];
  return [
    {
      kind: 'write_history',
      expectVersion: ctx.cluster.history?.version ?? null,
      newLeader: ctx.me,
      maxLines: ctx.s.config.maxTimelinesHistory,
    },
  ];
}

/**
 * A switchover or failover request while we lead (Patroni's
 * `process_manual_failover_from_leader`): wait for `scheduled_at`, demote gracefully if the
 * candidate (or anyone, without a candidate) can take over, otherwise clear the request.
 */
export function manualFailoverFromLeader(ctx: Ctx): Outcome | null {
  const f = ctx.failover;
  if (!f) return null;
  const { s } = ctx;
  const action = f.leader ? 'switchover' : 'manual failover';
  const notes: string[] = [];
  const cleanup = (...why: string[]): Outcome => ({
    code: 'switchover.cleared',
    reason: `no action. I am (${ctx.me}), the leader with the lock`,
    actions: [{ kind: 'clear_failover', expectVersion: ctx.cluster.failover?.version }],
    notes: [...notes, ...why, 'Cleaning up failover key'],
  });

  if (f.scheduled_at) {
    const at = Date.parse(f.scheduled_at);
    if (Number.isNaN(at)) return cleanup(`Incorrect value of scheduled_at: ${f.scheduled_at}`);
    const delta = at - s.wallNow;
    if (delta > 0) {
      const outcome = only('switchover.scheduled', `no action. I am (${ctx.me}), the leader with the lock`, [
        `Awaiting ${action} at ${f.scheduled_at} (in ${Math.round(delta / 1000)} seconds)`,
      ]);
      return { ...outcome, wakeAfterMs: delta };
    }
    if (delta < -1.5 * s.config.loopWait * 1000) return cleanup(`Found a stale ${action} value, cleaning up: ${f.scheduled_at}`);
    notes.push(`Manual scheduled ${action} at ${f.scheduled_at}`);
  }

  if (f.leader && f.leader !== ctx.me) return cleanup(`${action}: leader name does not match: ${f.leader} != ${ctx.me}`);
  if (f.member === ctx.me) return cleanup(`${action}: I am already the leader, no need to ${action}`);
  const gate = f.leader ? syncGate(ctx.candidate) : null;
  if (gate && f.member && !matchesSyncGate(gate, f.member)) {
    return cleanup(`${action}: candidate=${f.member} does not match with sync_standbys=${gate.standbys.join(',') || 'none'}`);
  }
  const members = f.member ? ctx.cluster.members.filter((m) => m.name === f.member) : ctx.cluster.members;
  // Only a switchover is held to the synchronous standbys; a manual failover goes where it is told.
  const possible = evaluateFailoverPossible(ctx.candidate, members, undefined, f.leader !== undefined && f.leader !== null && f.leader !== '');
  if (possible.kind === 'probe') {
    return {
      code: 'switchover.checking',
      reason: `${action}: checking the candidates`,
      actions: [{ kind: 'probe_peers', members: possible.members }],
      notes,
    };
  }
  if (possible.kind === 'no') {
    return cleanup(...possible.notes, `${action}: no healthy members found, ${action} is not possible`);
  }
  return {
    code: 'switchover.demoting',
    reason: `${action}: demoting myself`,
    actions: [demote('graceful', null, false, `${action}: demote`)],
    notes: [...notes, ...possible.notes],
  };
}
