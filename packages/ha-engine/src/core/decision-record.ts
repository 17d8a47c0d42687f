/**
 * A decision as data: what one HA cycle decided (rule, reason code, Patroni's sentence, the
 * actions run), the facts of the snapshot it decided from, and for a leader race or a
 * switchover one verdict per candidate. `GET /decisions` serves these (runtime/decision-log.ts
 * keeps the last N); `pghactl explain --history` reads them.
 */
import { isDcsUnavailable } from './snapshot.js';
import type { Snapshot, PeerStatus } from './snapshot.js';
import type { Decision } from './actions.js';
import type { RuleName } from './decide.js';
import type { ReasonCode } from './reason-codes.js';
import { candidateVerdicts, racingMemberOfPeer, type CandidateVerdict, type RacingMember } from './candidate-verdicts.js';
import { clusterTimeline, lastKnownPrimaryLsn, pendingFailover } from './candidate.js';
import { replayLagMs } from './replay-lag.js';
import { notStreamingForMs } from './wal-receiver.js';

/** The facts a decision used, as read at the start of the cycle. */
export interface DecisionFacts {
  /** The lock holder as read; null when the lock is free or the DCS could not be read. */
  leader: string | null;
  /** `held` by us, `other`: by another member, `free`, or `unknown` (DCS not readable). */
  lock: 'held' | 'other' | 'free' | 'unknown';
  role: string | null;
  state: string;
  timeline: number | null;
  /** The cluster's timeline as the DCS tells it (history, leader's member key). */
  clusterTimeline: number | null;
  /** Our WAL position, bytes (primary: write position; replica: max(received, replayed)). */
  lsn: number | null;
  receivedLsn: number | null;
  replayedLsn: number | null;
  /** The leader's last published position (`status.optime`), bytes. */
  primaryLsn: number | null;
  /** How far our position is behind `primaryLsn`, bytes (a replica's lag as failover sees it). */
  lagBytes: number | null;
  /** Our replay lag in time, ms, when known. */
  replayLagMs: number | null;
  tags: Record<string, unknown>;
  /** The `sync` key as read; null when there is none (or synchronous mode is off). */
  sync: { mode: string; leader: string | null; standbys: string[]; quorum: number } | null;
  paused: boolean;
  /** A pending switchover / failover request. */
  failover: { leader: string | null; member: string | null; scheduledAt: string | null } | null;
  /**
   * A running replica's WAL receiver (wal-receiver.ts): its status (null: none runs), whom it is
   * connected to, and for how long it has not streamed from its upstream (null: it does). Absent
   * on a primary, or when the port does not report it.
   */
  walReceiver?: { status: string | null; sender: string | null; upstream: string | null; notStreamingMs: number | null; repairStep: number };
}

export interface DecisionRecord {
  /** Wall time of the cycle (ISO 8601); of the first one when `count` > 1. */
  time: string;
  /** Wall time of the last cycle collapsed into this record, when `count` > 1. */
  lastTime?: string;
  /** Consecutive cycles with the same outcome, collapsed into this one record. */
  count: number;
  rule: RuleName;
  code: ReasonCode;
  reason: string;
  actions: string[];
  notes: string[];
  facts: DecisionFacts;
  /** A leader race, failover or switchover: one verdict per candidate. */
  candidates?: CandidateVerdict[];
}

/** What a cycle ended with: the reason and code that stood after the guards, the actions run. */
export interface CycleOutcome {
  reason: string;
  code: ReasonCode;
  actions: string[];
}

/** Notes kept per record: enough for any decision, bounded so a record stays small. */
const MAX_NOTES = 20;

/** The record of one cycle; `time` is the cycle's wall time as ISO 8601 (the runtime formats it). */
export function decisionRecord(s: Snapshot, decision: Decision, outcome: CycleOutcome, time: string): DecisionRecord {
  const record: DecisionRecord = {
    time,
    count: 1,
    rule: decision.rule,
    code: outcome.code,
    reason: outcome.reason,
    actions: outcome.actions,
    notes: decision.notes.slice(0, MAX_NOTES),
    facts: decisionFacts(s, decision),
  };
  const candidates = raceVerdicts(s, decision, outcome.code);
  if (candidates) record.candidates = candidates;
  return record;
}

export function decisionFacts(s: Snapshot, decision: Decision): DecisionFacts {
  const local = s.local;
  const cluster = isDcsUnavailable(s.cluster) ? null : s.cluster;
  const leader = cluster?.leader?.name ?? null;
  const primaryLsn = cluster ? lastKnownPrimaryLsn(cluster) || null : null;
  const replica = local.running && local.role === 'replica';
  const sync = cluster?.sync?.value;
  const failover = cluster ? pendingFailover(cluster) : null;
  return {
    leader,
    lock: !cluster ? 'unknown' : leader === null ? 'free' : leader === s.me.name ? 'held' : 'other',
    role: local.role,
    state: local.state,
    timeline: local.timeline,
    clusterTimeline: cluster ? clusterTimeline(cluster) || null : null,
    lsn: local.lsn,
    receivedLsn: local.receivedLsn ?? null,
    replayedLsn: local.replayedLsn ?? null,
    primaryLsn,
    lagBytes: replica && primaryLsn !== null && local.lsn !== null ? Math.max(0, primaryLsn - local.lsn) : null,
    replayLagMs: replica ? replayLagMs(decision.memory.replayLag, local) : null,
    tags: s.me.tags,
    sync: sync ? { mode: s.config.synchronousMode, leader: sync.leader, standbys: [...sync.sync_standby], quorum: sync.quorum } : null,
    paused: s.config.pause,
    failover: failover ? { leader: failover.leader ?? null, member: failover.member ?? null, scheduledAt: failover.scheduled_at ?? null } : null,
    ...receiverFacts(s, decision),
  };
}

function receiverFacts(s: Snapshot, decision: Decision): Pick<DecisionFacts, 'walReceiver'> {
  const receiver = s.local.walReceiver;
  if (!receiver || !s.local.running || s.local.role !== 'replica') return {};
  // The memory the decision started from says since when; the decision's says which step it took.
  const memory = decision.memory.receiver ?? null;
  const sender = receiver.senderHost !== null ? `${receiver.senderHost}:${receiver.senderPort ?? ''}` : null;
  return {
    walReceiver: { status: receiver.status, sender, upstream: memory?.upstream ?? null, notStreamingMs: notStreamingForMs(memory, s.now), repairStep: memory?.step ?? 0 },
  };
}

const WON: readonly ReasonCode[] = ['race.won', 'race.won.primary', 'race.won.standby-leader'];

/**
 * The candidates' verdicts of a cycle that judged candidates with the other members' answers in
 * hand: the leader race (`lock-free`) and a switchover or failover handled by the leader. Null
 * for every other cycle (and for the probing half of a two-phase decision).
 */
export function raceVerdicts(s: Snapshot, decision: Decision, code: ReasonCode): CandidateVerdict[] | null {
  if (isDcsUnavailable(s.cluster)) return null;
  const cluster = s.cluster;
  const race = decision.rule === 'lock-free' && cluster.leader === null;
  const handover = (code === 'switchover.demoting' || code === 'switchover.cleared') && s.peers !== null;
  if (!race && !handover) return null;
  const me: RacingMember = {
    name: s.me.name,
    tags: s.me.tags,
    local: s.local,
    watchdogHealthy: s.watchdogHealthy,
    replayLagMs: replayLagMs(decision.memory.replayLag, s.local),
  };
  const self: PeerStatus = {
    name: s.me.name,
    reachable: true,
    inRecovery: !(s.local.running && s.local.role === 'primary'),
    walPosition: s.local.lsn,
    timeline: s.local.timeline,
    tags: s.me.tags,
    watchdogFailed: !s.watchdogHealthy,
  };
  // A member that decided without probing (nofailover, a lone member) needed nobody's answer:
  // its own verdict is all there is to record.
  const others = (s.peers ?? []).filter((p) => p.name !== s.me.name);
  const peers = [self, ...others];
  const members = [me, ...others.map((p) => racingMemberOfPeer(p))];
  if (race) {
    const verdicts = candidateVerdicts({ cluster, config: s.config, members, peers, winner: WON.includes(code) ? s.me.name : null });
    // We raced and another member took the lock first.
    return code === 'race.lost' ? verdicts.map((v) => (v.member === s.me.name ? { ...v, detail: 'another member took the lock first' } : v)) : verdicts;
  }
  // A handover, judged as the race will run once the leader let go: the lock free, the request
  // in place, the leader (us) a former leader among the others.
  const freed = { ...cluster, leader: null };
  const target = pendingFailover(cluster)?.member;
  return candidateVerdicts({
    cluster: freed,
    config: s.config,
    members: members.filter((m) => m.name !== s.me.name),
    peers: peers.map((p) => (p.name === s.me.name ? { ...p, inRecovery: true } : p)),
    winner: code === 'switchover.demoting' ? (target ?? null) : null,
  });
}
