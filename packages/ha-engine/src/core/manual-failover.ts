/**
 * The checks a switchover or failover request passes before it is written to the `failover` key
 * (POST /switchover, POST /failover, `pghactl switchover`): Patroni's API `is_failover_possible`
 * on the cluster as read. They live beside the leader-race rules (candidate.ts) that carry the
 * request out, and read the same facts the same way (`nofailover` / `failover_priority`,
 * `synchronous_mode`, members without an API), so the API cannot accept a request on a rule the
 * engine reads differently.
 *
 * Like Patroni's, these checks see the DCS only: whether a candidate is healthy enough at that
 * moment (its WAL position, its answer to a probe) is decided by the leader race itself.
 */
import { isNoFailover, isPaused, synchronousModeOf, type Cluster, type Member } from '@pgha/dcs';

export type ManualAction = 'switchover' | 'failover';

export interface ManualFailoverRequest {
  /** The leader the request is from (`leader`, alias `master`). */
  leader?: string | undefined;
  /** The member to hand over to (`candidate`, alias `member`). */
  candidate?: string | undefined;
}

/** A member the leader race would consider at all: not `nofailover`, and with an API to probe. */
export function mayTakeOver(m: Member): boolean {
  return !isNoFailover(m.data.tags) && typeof m.data.api_url === 'string' && m.data.api_url !== '';
}

/** The stored `synchronous_mode` is on or quorum (an unreadable value is off, as the engine reads it). */
export function synchronousModeOn(cluster: Cluster): boolean {
  const mode = synchronousModeOf(cluster.config?.value['synchronous_mode']);
  return mode === 'on' || mode === 'quorum';
}

/**
 * Why the request cannot be carried out on `cluster`, in Patroni's words; null when it can.
 * - the leader named must hold the lock;
 * - a named candidate must be a member, and for a switchover in synchronous mode one of the
 *   `sync` key's standbys (only they hold every acknowledged commit);
 * - without a candidate, synchronous mode needs a published synchronous standby, and otherwise
 *   some member other than the leader must be able to take over.
 */
export function manualFailoverProblem(cluster: Cluster, request: ManualFailoverRequest, action: ManualAction): string | null {
  if (request.leader && cluster.leader?.name !== request.leader) return 'leader name does not match';
  const syncStandbys = cluster.sync?.value.sync_standby ?? [];
  if (request.candidate) {
    if (action === 'switchover' && synchronousModeOn(cluster) && !syncStandbys.includes(request.candidate)) {
      return 'candidate name does not match with sync_standby';
    }
    if (!cluster.members.some((m) => m.name === request.candidate)) return 'candidate does not exists';
    return null;
  }
  if (synchronousModeOn(cluster) && syncStandbys.length === 0) return `${action} is not possible: can not find sync_standby`;
  const others = cluster.members.filter((m) => m.name !== cluster.leader?.name && mayTakeOver(m));
  if (others.length === 0) return `${action} is not possible: cluster does not have members except leader`;
  return null;
}

/** Patroni's sentence for scheduling in maintenance mode, which nothing may do (API and CLI). */
export function pausedScheduleRefusal(what: 'switchover' | 'restart'): string {
  return `Can't schedule ${what} in the paused state`;
}

/**
 * Patroni's rule for maintenance mode: nobody picks a candidate automatically, so a request
 * without one is refused; and nothing is scheduled. Null when the request may go on.
 */
export function pausedRequestProblem(cluster: Cluster, request: ManualFailoverRequest & { scheduled: boolean }): string | null {
  if (!isPaused(cluster)) return null;
  if (request.scheduled) return pausedScheduleRefusal('switchover');
  if (!request.candidate) return 'Switchover is possible only to a specific candidate in a paused state';
  return null;
}
