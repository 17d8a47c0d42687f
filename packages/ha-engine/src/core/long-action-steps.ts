/**
 * What each long action does, as an ordered list of steps the runtime carries out one by one
 * (long-actions.ts). The order is the rule: a demote stops PostgreSQL before it disarms the
 * watchdog (Patroni's safepoint: the server may take writes until it is down, and if the lock is
 * lost meanwhile the watchdog must still fire), releases the lock only after that and only in
 * the modes that say so, then starts as a replica; a reinitialize stops, removes the data
 * directory, clones, starts; a rewind starts after pg_rewind.
 */
import type { DemoteMode, FollowTarget, LongAction, StopMode } from './actions.js';

export type LongActionStep =
  | { kind: 'bootstrap' }
  | { kind: 'clone'; source: FollowTarget }
  | { kind: 'start'; what: 'start' | 'starting as a replica'; role: 'primary' | 'replica'; follow: FollowTarget | null; timeoutMs: number }
  /**
   * `abortable: false`: a demote that has begun must bring PostgreSQL down. `timeoutMs`: kill
   * PostgreSQL when the stop takes longer (primary_stop_timeout).
   */
  | { kind: 'stop'; mode: StopMode; checkpoint?: boolean; abortable: boolean; timeoutMs?: number }
  | { kind: 'copy_logical_slots'; source: FollowTarget; slots: string[] }
  | { kind: 'restart' }
  | { kind: 'promote' }
  | { kind: 'follow'; target: FollowTarget | null }
  | { kind: 'rewind'; source: FollowTarget }
  | { kind: 'remove_data_directory' }
  | { kind: 'disable_watchdog' }
  | { kind: 'release_lock' };

/**
 * The demote modes that give the leader key up once PostgreSQL is down: `graceful` (switchover)
 * and `immediate`. `offline` keeps it (the DCS is unreachable: nothing to release), and
 * `immediate-nolock` has already lost it.
 */
export function demoteReleasesLock(mode: DemoteMode): boolean {
  return mode === 'graceful' || mode === 'immediate';
}

/**
 * The steps of `action`; `replicaStartMs` bounds a start as a replica that ends one, and
 * `primaryStopMs` (primaryStopTimeoutMs) a demoting primary's stop.
 */
export function longActionSteps(action: LongAction, replicaStartMs: number, primaryStopMs: number | null = null): LongActionStep[] {
  const startReplica = (follow: FollowTarget | null): LongActionStep => ({
    kind: 'start',
    what: 'starting as a replica',
    role: 'replica',
    follow,
    timeoutMs: replicaStartMs,
  });
  switch (action.kind) {
    case 'bootstrap':
      return [{ kind: 'bootstrap' }];
    case 'create_replica':
      return [{ kind: 'clone', source: action.source }, startReplica(action.follow)];
    case 'start':
      return [{ kind: 'start', what: 'start', role: action.role, follow: action.follow, timeoutMs: action.timeoutMs }];
    case 'stop':
      return [{ kind: 'stop', mode: action.mode, abortable: true }];
    case 'restart': {
      const copy = action.copyLogicalSlots;
      return [...(copy ? [{ kind: 'copy_logical_slots', source: copy.source, slots: copy.slots } as const] : []), { kind: 'restart' }];
    }
    case 'promote':
      return [{ kind: 'promote' }];
    case 'follow':
      return [{ kind: 'follow', target: action.target }];
    case 'rewind':
      return [{ kind: 'rewind', source: action.source }, startReplica(action.source)];
    case 'reinitialize':
      return [
        { kind: 'stop', mode: 'immediate', abortable: true },
        { kind: 'remove_data_directory' },
        { kind: 'clone', source: action.source },
        startReplica(action.follow),
      ];
    case 'demote': {
      const immediate = action.mode === 'immediate' || action.mode === 'immediate-nolock';
      return [
        {
          kind: 'stop',
          mode: immediate ? 'immediate' : 'fast',
          checkpoint: action.mode === 'graceful',
          abortable: false,
          ...(primaryStopMs !== null && !immediate ? { timeoutMs: primaryStopMs } : {}),
        },
        { kind: 'disable_watchdog' },
        ...(demoteReleasesLock(action.mode) ? [{ kind: 'release_lock' } as const] : []),
        startReplica(action.follow),
      ];
    }
  }
}
