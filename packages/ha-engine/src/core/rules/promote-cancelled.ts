/**
 * A promotion that failed while we hold the lock: the `pre_promote` script exited non-zero (or
 * PostgreSQL refused to promote). As Patroni does, the member gives the lock back and skips
 * leader races for ttl, so another candidate takes over instead of this one retrying forever.
 */
import type { Ctx, Outcome } from './context.js';
import { only } from './context.js';

/** The last background action was our promotion, and it failed. */
export function promoteJustFailed(ctx: Ctx): boolean {
  const last = ctx.s.lastAction;
  return last !== null && last.kind === 'promote' && !last.ok && ctx.s.running === null;
}

export function promoteCancelled(): Outcome {
  return { code: 'promote.cancelled', reason: 'Promotion cancelled because the pre-promote script failed', actions: [{ kind: 'release_lock' }] };
}

export function inPromoteBackoff(ctx: Ctx): boolean {
  const at = ctx.memory.promoteCancelledAt;
  return typeof at === 'number' && ctx.s.now - at < ctx.s.config.ttl * 1000;
}

export function promoteBackoff(): Outcome {
  return only('promote.backoff', 'backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily');
}
