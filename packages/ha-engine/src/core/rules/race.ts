/**
 * The leader lock is free (Patroni's `process_unhealthy_cluster`): the healthiest member races
 * for it (create-if-absent, so at most one wins) and promotes; a primary that may not lead, or
 * loses the race, demotes.
 */
import { isNoFailover, type Cluster } from '@pgha/dcs';
import type { Action } from '../actions.js';
import type { ProbeTarget } from '../candidate.js';
import { evaluateLeaderRace, probeTargets } from '../candidate.js';
import type { EngineConfig } from '../config.js';
import type { DcsUnavailable } from '../snapshot.js';
import { isDcsUnavailable } from '../snapshot.js';
import type { Ctx, Outcome } from './context.js';
import { demote, followTarget, otherwise } from './context.js';
import { standbyLeaderRace } from './standby-leader.js';
import { syncBeforePromote } from './sync.js';

/**
 * The members to ask for their WAL positions before deciding, while PostgreSQL's state is still
 * being read: with the lock free and the cluster not paused, the `lock-free` row races, and the
 * race asks exactly `probeTargets` (evaluateLeaderRace). Paused, the `paused` row decides first
 * and nobody races. The runtime uses the answers only if the decision asks the same members,
 * so a row that decides otherwise costs one wasted round of probes, never a wrong decision.
 */
export function earlyProbeTargets(cluster: Cluster | DcsUnavailable, config: Pick<EngineConfig, 'pause'>, me: string): ProbeTarget[] {
  if (isDcsUnavailable(cluster) || cluster.leader !== null || config.pause) return [];
  return probeTargets(cluster, me);
}

export function leaderRace(ctx: Ctx): Outcome {
  const verdict = evaluateLeaderRace(ctx.candidate);
  if (verdict.kind === 'probe') {
    return {
      code: 'race.probing',
      reason: 'asking the other members for their WAL positions before the leader race',
      actions: [{ kind: 'probe_peers', members: verdict.members }],
    };
  }
  const notes = verdict.notes;
  const clearFailover: Action[] = ctx.failover ? [{ kind: 'clear_failover' }] : [];

  if (verdict.kind === 'yes' && ctx.isPrimary) {
    return {
      code: 'race.won.primary',
      reason: 'acquired session lock as a leader',
      actions: [
        {
          kind: 'acquire_lock',
          otherwise: otherwise('race.lost.demote', 'demoted self after trying and failing to obtain lock', [demote('immediate-nolock', null)]),
          onError: otherwise('dcs.unavailable.demote', 'demoting self because DCS is not accessible and I was a leader', [demote('offline', null)]),
        },
        ...clearFailover,
        {
          kind: 'activate_watchdog',
          otherwise: otherwise('watchdog.demote', 'Demoting self because watchdog could not be activated', [demote('immediate', null)]),
        },
      ],
      notes,
    };
  }
  const standby = ctx.s.config.standbyCluster;
  if (verdict.kind === 'yes' && standby) return standbyLeaderRace(ctx, standby, notes);
  if (verdict.kind === 'yes') {
    return {
      code: 'race.won',
      reason: 'promoted self to leader by acquiring session lock',
      actions: [
        {
          kind: 'acquire_lock',
          otherwise: otherwise('race.lost', 'following new leader after trying and failing to obtain lock'),
          onError: otherwise('dcs.unavailable', 'DCS is not accessible'),
        },
        {
          kind: 'activate_watchdog',
          // The request is cleared on this path too, as it is once the promotion started: a
          // candidate without a working watchdog must not win the next race on its strength.
          otherwise: otherwise('watchdog.not-promoting', 'Not promoting self because watchdog could not be activated', [{ kind: 'release_lock' }, ...clearFailover]),
        },
        // Claims the sync key; if that fails we keep the lock and the next cycle retries.
        ...syncBeforePromote(ctx),
        { kind: 'promote', label: 'promote' },
        // After the promotion has started (it runs in the background): clearing the request is
        // one more DCS round trip the writes need not wait for.
        ...clearFailover,
      ],
      notes,
    };
  }
  const nofailover = isNoFailover(ctx.s.me.tags);
  if (ctx.isPrimary) {
    return {
      code: nofailover ? 'race.demote.not-allowed' : 'race.demote.not-healthiest',
      reason: nofailover ? 'demoting self because I am not allowed to become primary' : 'demoting self because i am not the healthiest node',
      actions: [demote('immediate-nolock', followTarget(ctx))],
      notes,
    };
  }
  return {
    code: nofailover ? 'race.lost.not-allowed' : 'race.lost.not-healthiest',
    reason: nofailover
      ? 'following a different leader because I am not allowed to promote'
      : 'following a different leader because i am not the healthiest node',
    actions: [],
    notes,
  };
}
