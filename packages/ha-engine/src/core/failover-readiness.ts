/**
 * Could the cluster fail over automatically if its leader died now? The answer `pghactl list`
 * and `GET /cluster` show, from what the DCS holds (member keys, `sync`, `status`, `config`):
 * a cluster with no member able to take over must say so rather than look healthy.
 *
 * It applies the engine's own gates to each member, as the leader race would (candidate.ts):
 * running, not `nofailover`, a published synchronous standby while synchronous mode is on (with
 * enough listed standbys left to vote in quorum mode), within `maximum_lag_on_failover` bytes of
 * the last published primary position, and on the cluster's timeline. What only the race itself
 * can see (the replay lag in time, peers' answers at that moment) is not part of it.
 */
import { isNoFailover, type Cluster, type Member } from '@pgha/dcs';
import { clusterTimeline, isLagging, lastKnownPrimaryLsn, matchesSyncGate, syncGate } from './candidate.js';
import type { ExclusionGate } from './candidate-gates.js';
import type { EngineConfig } from './config.js';

export type ReadinessConfig = Pick<EngineConfig, 'pause' | 'synchronousMode' | 'maximumLagOnFailover' | 'checkTimeline'>;

export interface MemberReadiness {
  name: string;
  /** Null when the member could take over; otherwise the gate that excludes it, in words. */
  excludedBy: string | null;
}

export interface FailoverReadiness {
  possible: boolean;
  /** Members that could take over, by name. */
  candidates: string[];
  /** One sentence: who could take over, or why nobody could. */
  reason: string;
  /** Every member other than the leader, with its verdict. */
  members: MemberReadiness[];
}

const RUNNING_STATES = new Set(['running', 'streaming']);

export function failoverReadiness(cluster: Cluster, config: ReadinessConfig): FailoverReadiness {
  const leader = cluster.leader?.name ?? null;
  const gate = syncGate({ cluster, config });
  const members = failoverExclusions(cluster, config).map((m) => ({ name: m.name, excludedBy: m.exclusion?.why ?? null }));
  const candidates = members.filter((m) => m.excludedBy === null).map((m) => m.name);
  const possible = candidates.length > 0 && !config.pause;
  return { possible, candidates, reason: sentence(config, gate, members, candidates, leader), members };
}

/** A gate that excludes a member, and Patroni-style words for it. */
export interface Exclusion {
  gate: ExclusionGate;
  why: string;
}

/** Every member other than the leader, with the gate the DCS data alone excludes it by (or null). */
export function failoverExclusions(cluster: Cluster, config: ReadinessConfig): { name: string; exclusion: Exclusion | null }[] {
  const leader = cluster.leader?.name ?? null;
  const gate = syncGate({ cluster, config });
  return cluster.members.filter((m) => m.name !== leader).map((m) => ({ name: m.name, exclusion: exclusion(m, cluster, config, gate) }));
}

function exclusion(m: Member, cluster: Cluster, config: ReadinessConfig, gate: ReturnType<typeof syncGate>): Exclusion | null {
  const ex = (g: ExclusionGate, why: string): Exclusion => ({ gate: g, why });
  const state = m.data.state ?? 'unknown';
  if (!RUNNING_STATES.has(state)) return ex('not-running', `its state is ${state}`);
  if (isNoFailover(m.data.tags)) return ex('nofailover', m.data.tags['nofailover'] !== undefined ? 'tagged nofailover' : 'failover_priority is 0');
  if (m.data.extra['watchdog_failed'] === true) return ex('watchdog', 'its required watchdog is not usable');
  if (gate && !matchesSyncGate(gate, m.name)) return ex('not-synchronous', 'not a synchronous standby');
  if (gate && gate.quorum > 0) {
    const voters = gate.standbys.filter((s) => s.toLowerCase() !== m.name.toLowerCase() && isRunning(cluster, s)).length;
    if (voters < gate.quorum) return ex('quorum', `needs ${gate.quorum} quorum votes, ${voters} other listed standbys running`);
  }
  const position = m.data.xlog_location ?? 0;
  if (isLagging({ cluster, config }, position)) {
    return ex('lag-bytes', `lags ${lastKnownPrimaryLsn(cluster) - position} bytes, over maximum_lag_on_failover (${config.maximumLagOnFailover})`);
  }
  const tl = clusterTimeline(cluster);
  if (config.checkTimeline && (m.data.timeline ?? 0) < tl) return ex('timeline-behind', `timeline ${m.data.timeline ?? 'unknown'} behind the cluster's ${tl}`);
  return null;
}

function isRunning(cluster: Cluster, name: string): boolean {
  const m = cluster.members.find((x) => x.name.toLowerCase() === name.toLowerCase());
  return m !== undefined && RUNNING_STATES.has(m.data.state ?? '');
}

function sentence(
  config: ReadinessConfig,
  gate: ReturnType<typeof syncGate>,
  members: MemberReadiness[],
  candidates: string[],
  leader: string | null,
): string {
  if (config.pause) return 'maintenance mode: no automatic failover';
  if (candidates.length > 0) return `${candidates.join(', ')} could take over`;
  if (members.length === 0) return leader ? 'no other member' : 'no members';
  if (gate && gate.standbys.length === 0) {
    return `synchronous_mode is ${config.synchronousMode} and the sync key names no standby: no member is known to hold every acknowledged commit`;
  }
  return `no member could take over: ${members.map((m) => `${m.name} ${m.excludedBy}`).join('; ')}`;
}
