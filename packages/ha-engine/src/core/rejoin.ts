/**
 * Rejoin rules: has the local data directory diverged from the leader's timeline, and if so,
 * rewind or re-clone per policy. Divergence is judged from the DCS `history` key (written by the
 * leader after each promotion): the local server diverged when it holds WAL past the point where
 * the leader's history left the local timeline.
 */
import type { Cluster } from '@pgha/dcs';
import type { Action } from './actions.js';
import { isLongAction } from './actions.js';
import { clusterTimeline } from './candidate.js';
import type { EngineConfig } from './config.js';
import type { EngineMemory, LocalPostgresState } from './snapshot.js';

/** The leader's timeline: its member key's `timeline`, else what the history implies; null when unknown. */
export function leaderTimeline(cluster: Cluster): number | null {
  const tl = clusterTimeline(cluster);
  return tl > 0 ? tl : null;
}

/**
 * True when the local WAL cannot be followed by the leader's timeline without pg_rewind. Unknown
 * positions or a missing history line count as not diverged: starting such a server as a replica
 * is harmless (it simply does not stream), and the next cycle, with the history written, tells.
 */
export function hasDiverged(local: LocalPostgresState, cluster: Cluster): { diverged: boolean; why: string } {
  const tl = local.timeline;
  const lsn = local.lsn;
  const leaderTl = leaderTimeline(cluster);
  if (tl === null || lsn === null || leaderTl === null) return { diverged: false, why: 'timeline or position unknown' };
  if (tl === leaderTl) return { diverged: false, why: `same timeline ${tl}` };
  if (tl > leaderTl) {
    // The leader's member key says its old timeline for a cycle after its promotion (the history
    // key comes later still), and a leader that crashed right after promoting leaves them so until
    // they expire. A replica following it can only have got the newer timeline from it.
    if (local.running && local.role === 'replica' && local.following !== null && local.following === cluster.leader?.name) {
      return { diverged: false, why: `local timeline ${tl} is ahead of the leader's published timeline ${leaderTl}, but was streamed from it` };
    }
    return { diverged: true, why: `local timeline ${tl} is ahead of the leader's timeline ${leaderTl}` };
  }
  const entry = (cluster.history?.value ?? []).find((e) => e.timeline === tl);
  if (!entry) return { diverged: false, why: `the history has no line for timeline ${tl}` };
  // A stopped former primary reports the start of its shutdown checkpoint: a record that starts
  // at the switch point is already off the leader's branch. A replica reports the end of WAL.
  const formerPrimary = !local.running && local.role === 'primary';
  const diverged = formerPrimary ? lsn >= entry.lsn : lsn > entry.lsn;
  return {
    diverged,
    why: diverged
      ? `local position ${lsn} on timeline ${tl} is ${formerPrimary ? 'at or past' : 'past'} the switch point ${entry.lsn}`
      : `local position ${lsn} on timeline ${tl} is not past the switch point ${entry.lsn}`,
  };
}

/**
 * The lock holder's side of the wait below (Patroni's `checkpoint_after_promote`): a running
 * primary whose latest checkpoint is still on an older timeline than the one it runs on has been
 * promoted and not checkpointed since; pg_rewind against it would find nothing to rewind. While
 * so, its member key says `checkpoint_after_promote: false` (member-data.ts), and members that
 * need to rewind from it wait. Unknown timelines (a port that does not report the checkpoint's)
 * never hold anyone back.
 */
export function checkpointAfterPromotePending(input: { holdsLock: boolean; local: LocalPostgresState }): boolean {
  const { holdsLock, local } = input;
  if (!holdsLock || !local.running || local.role !== 'primary' || local.unknown) return false;
  const checkpoint = local.checkpointTimeline ?? null;
  return checkpoint !== null && local.timeline !== null && checkpoint < local.timeline;
}

/**
 * The CHECKPOINT after promote, issued by the lock holder (Patroni's
 * `ensure_checkpoint_after_promote`, run after a successful lock update): while the checkpoint is
 * pending and none is running, a cycle that renews the lock and starts nothing else in the
 * background issues one. A failed one is issued again by a later cycle; the port only runs it.
 */
export function checkpointAfterPromoteDue(input: { holdsLock: boolean; local: LocalPostgresState; checkpointRunning: boolean; actions: readonly Action[] }): boolean {
  if (input.checkpointRunning || !checkpointAfterPromotePending(input)) return false;
  if (!input.actions.some((a) => a.kind === 'renew_lock')) return false;
  return !input.actions.some((a) => isLongAction(a) || a.kind === 'release_lock');
}

/**
 * How soon both sides look again while the checkpoint after a promotion is pending: the new
 * primary, to publish its end; a member waiting to rewind, to start as soon as it is published.
 * The checkpoint is explicit (issued right after the promotion), so it normally takes moments,
 * and waiting for a whole loop_wait on each side would delay the rejoin for nothing.
 */
export const CHECKPOINT_RECHECK_MS = 1_000;

export type RejoinPlan =
  | { kind: 'none' }
  | { kind: 'rewind'; why: string }
  | { kind: 'reinitialize'; why: string }
  | { kind: 'wait_checkpoint'; why: string }
  | { kind: 'stuck'; why: string };

/**
 * What to do about a diverged data directory: pg_rewind when allowed and possible (and not
 * already failed against this leader), else re-clone when a `remove_data_directory_*` setting
 * allows it, else nothing can be done automatically.
 */
export function planRejoin(options: {
  local: LocalPostgresState;
  cluster: Cluster;
  config: Pick<EngineConfig, 'usePgRewind' | 'removeDataDirectoryOnRewindFailure' | 'removeDataDirectoryOnDivergedTimelines'>;
  memory: EngineMemory;
}): RejoinPlan {
  const { local, cluster, config, memory } = options;
  const leader = cluster.leader;
  if (!leader) return { kind: 'none' };
  const check = hasDiverged(local, cluster);
  if (!check.diverged) return { kind: 'none' };
  const leaderMember = cluster.members.find((m) => m.name === leader.name);
  const rewindFailed = memory.rewindFailed !== null && memory.rewindFailed.leader === leader.name;
  if (config.usePgRewind && local.rewindPossible && !rewindFailed) {
    // pg_rewind needs the new primary's control file to show the new timeline (Patroni waits
    // for the CHECKPOINT after promote, which the leader reports as checkpoint_after_promote:
    // checkpointAfterPromotePending above). A leader key not saying so (a Patroni older than
    // 1.5.6, or the promotion not yet read) goes on: the controller's rewind waits (bounded).
    if (leaderMember?.data.checkpoint_after_promote === false) {
      return { kind: 'wait_checkpoint', why: check.why };
    }
    return { kind: 'rewind', why: check.why };
  }
  if ((rewindFailed && config.removeDataDirectoryOnRewindFailure) || config.removeDataDirectoryOnDivergedTimelines) {
    return { kind: 'reinitialize', why: check.why };
  }
  return {
    kind: 'stuck',
    why: `${check.why}; ${rewindFailed ? 'pg_rewind failed' : 'pg_rewind is not allowed or not possible'} and removing the data directory is not allowed`,
  };
}
