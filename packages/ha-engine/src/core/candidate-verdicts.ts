/**
 * One verdict per candidate of a leader race, a failover or a switchover: chosen, eligible, or
 * the gate that excluded it. Each member is judged by the engine's own rule
 * (`evaluateLeaderRace`, candidate.ts) from where it stands: its own PostgreSQL state and tags,
 * and the other members' REST answers as it would probe them. So the verdicts are the race's
 * decisions replayed for every member, not a second set of rules.
 *
 * Used by the decision records (`GET /decisions`, decision-record.ts), from the deciding
 * member's probes, and by `pghactl explain`, from every member's `GET /patroni`.
 */
import type { Cluster } from '@pgha/dcs';
import { evaluateLeaderRace, type CandidateInput } from './candidate.js';
import type { ExclusionGate } from './candidate-gates.js';
import type { LocalPostgresState, PeerStatus } from './snapshot.js';

export interface CandidateVerdict {
  member: string;
  /**
   * `chosen`: the member that takes (or took) over; `eligible`: passes every gate, but another
   * was chosen or the race between equals is not decided yet; `excluded`: `gate` excluded it.
   */
  verdict: 'chosen' | 'eligible' | 'excluded';
  gate: ExclusionGate | null;
  /** The rule's words: why it is excluded (Patroni's log line), or its notes. */
  detail: string | null;
}

/** A member as it would see itself when racing. */
export interface RacingMember {
  name: string;
  tags: Record<string, unknown>;
  /** Its PostgreSQL state; null when it could not be asked (`unreachableWhy` says why). */
  local: LocalPostgresState | null;
  unreachableWhy?: string;
  watchdogHealthy: boolean;
  /** Its replay lag in time, ms, when known (only a member knows its own). */
  replayLagMs?: number | null;
}

export interface VerdictInput {
  /** The cluster as the race sees it (the leader key as read: free for a race). */
  cluster: Cluster;
  config: CandidateInput['config'] & { pause?: boolean };
  members: readonly RacingMember[];
  /** Every member's REST answer, as a racing member probes them (its own is ignored). */
  peers: readonly PeerStatus[];
  /** The member that took the lock, when known. */
  winner?: string | null;
}

export function candidateVerdicts(input: VerdictInput): CandidateVerdict[] {
  const judged = input.members.map((m) => judge(input, m));
  const eligible = judged.filter((v) => v.verdict === 'eligible');
  const winner = input.winner ?? (eligible.length === 1 ? eligible[0]?.member : undefined);
  return judged.map((v) => (v.verdict === 'eligible' && v.member === winner ? { ...v, verdict: 'chosen' } : v));
}

function judge(input: VerdictInput, m: RacingMember): CandidateVerdict {
  const excluded = (gate: ExclusionGate, detail: string | null): CandidateVerdict => ({ member: m.name, verdict: 'excluded', gate, detail });
  if (input.config.pause) return excluded('paused', 'maintenance mode: no automatic failover');
  if (!m.local) return excluded('unreachable', m.unreachableWhy ?? 'not reachable');
  const verdict = evaluateLeaderRace({
    me: { name: m.name, tags: m.tags },
    local: m.local,
    cluster: input.cluster,
    config: input.config,
    peers: input.peers.filter((p) => p.name !== m.name),
    watchdogHealthy: m.watchdogHealthy,
    replayLagMs: m.replayLagMs ?? null,
  });
  const last = verdict.notes[verdict.notes.length - 1] ?? null;
  if (verdict.kind === 'no') return excluded(verdict.gate, last);
  // `probe` cannot come back with peers given; it would mean nothing is known against it.
  return { member: m.name, verdict: 'eligible', gate: null, detail: verdict.notes.length > 0 ? verdict.notes.join('; ') : null };
}

/**
 * A member's PostgreSQL state as far as its REST answer (PeerStatus) tells: running, in
 * recovery or not, its WAL position and timeline. `state` is its member state (`running`,
 * `starting`, ...), when known.
 */
export function localStateOfPeer(peer: PeerStatus, state = 'running'): LocalPostgresState {
  return {
    dataDirectory: 'initialized',
    systemId: null,
    running: true,
    state,
    role: peer.inRecovery ? 'replica' : 'primary',
    timeline: peer.timeline,
    lsn: peer.walPosition,
    following: null,
    streaming: false,
    pendingRestart: false,
    rewindPossible: false,
  };
}

/** A racing member from its REST answer; unreachable when it gave none. */
export function racingMemberOfPeer(peer: PeerStatus, state?: string): RacingMember {
  if (!peer.reachable) return { name: peer.name, tags: peer.tags, local: null, unreachableWhy: peer.error ?? 'not reachable', watchdogHealthy: true };
  return { name: peer.name, tags: peer.tags, local: localStateOfPeer(peer, state), watchdogHealthy: !peer.watchdogFailed };
}
