/**
 * The DCS could not be read. A replica carries on as it is. A primary keeps running only while
 * its lease is certainly still valid (it cannot have been given to anyone else before then), or
 * in failsafe mode while every member acknowledges it (rules/failsafe.ts); past that point, or
 * without a lease, it demotes to a read-only server following nobody (Patroni's `offline`
 * demote). The safety deadline (safety.ts) enforces the same limit between cycles.
 */
import type { Snapshot } from '../snapshot.js';
import { isDcsUnavailable } from '../snapshot.js';
import type { Outcome } from './context.js';
import { demote, only } from './context.js';
import { failsafeOnDcsLoss } from './failsafe.js';

export function dcsUnavailable(s: Snapshot, error: string): Outcome {
  const mayBeWritable = (s.local.running && s.local.role === 'primary') || s.running?.kind === 'promote';
  if (!mayBeWritable) return only('dcs.unavailable', 'DCS is not accessible', [error]);
  // In maintenance mode the operator, not the agent, decides when a primary stops.
  if (s.config.pause) return only('dcs.unavailable', 'DCS is not accessible', [error]);
  const notes = [error];
  if (s.config.failsafeMode && s.running?.kind !== 'promote') {
    const failsafe = failsafeOnDcsLoss(s, isDcsUnavailable(s.cluster) ? s.cluster.failsafe : null);
    if ('outcome' in failsafe) return { ...failsafe.outcome, notes };
    notes.push(...failsafe.notes);
  }
  const fenceAt = s.lock.validUntil === null ? null : s.lock.validUntil - s.config.safetyMargin * 1000;
  if (s.lock.held && fenceAt !== null && s.now < fenceAt) {
    const left = Math.ceil((fenceAt - s.now) / 1000);
    return only(
      'dcs.unavailable.lease-valid',
      `DCS is not accessible; continue to run as a leader while the leader lock is valid (${left} seconds left)`,
      notes,
    );
  }
  return {
    code: 'dcs.unavailable.demote',
    reason: 'demoting self because DCS is not accessible and I was a leader',
    actions: [demote('offline', null, true)],
    notes,
  };
}
