/**
 * The candidate rules: who may take the leader lock when it is free, and whether a failover is
 * possible at all. Pure functions over the cluster, the local state and the results of probing
 * the other members' REST APIs; exported so tools (`pghactl explain`) can evaluate them too.
 *
 * A verdict is `yes`, `no`, or `probe`: the rule cannot answer without the other members'
 * positions, and lists whom to probe. Each verdict carries notes in Patroni's log wording
 * (`Wal position of pg1 is ahead of my wal position`).
 */
import { failoverPriority, isNoFailover, type Cluster, type Failover, type Member } from '@pgha/dcs';
import type { ExclusionGate } from './candidate-gates.js';
import type { EngineConfig } from './config.js';
import { mayTakeOver } from './manual-failover.js';
import { formatLagLimit } from './replay-lag.js';
import { exceedsLag } from './wal-position.js';
import type { LocalPostgresState, MemberIdentity, PeerStatus } from './snapshot.js';

export type Verdict =
  | { kind: 'yes'; notes: string[] }
  | { kind: 'no'; notes: string[]; gate: ExclusionGate }
  | { kind: 'probe'; members: ProbeTarget[]; notes: string[] };

export interface ProbeTarget {
  name: string;
  apiUrl: string;
}

/** What the candidate rules look at. */
export interface CandidateInput {
  me: Pick<MemberIdentity, 'name' | 'tags'>;
  local: LocalPostgresState;
  cluster: Cluster;
  config: Pick<EngineConfig, 'maximumLagOnFailover' | 'checkTimeline'> &
    Partial<Pick<EngineConfig, 'synchronousMode' | 'maximumReplayLagOnFailover'>>;
  /** Probe results of this cycle; null = not probed yet. */
  peers: PeerStatus[] | null;
  watchdogHealthy: boolean;
  /** Our replay lag in time (replay-lag.ts), ms; null/absent when not known. */
  replayLagMs?: number | null;
}

/** Why a probed member cannot promote, or null (Patroni's `failover_limitation`). */
export function failoverLimitation(peer: PeerStatus | undefined): string | null {
  if (!peer || !peer.reachable) return 'not reachable';
  if (isNoFailover(peer.tags)) return 'not allowed to promote';
  if (peer.watchdogFailed) return 'not watchdog capable';
  return null;
}

/**
 * The cluster's timeline as far as the DCS tells: one past the last line of `history`, or the
 * leader's reported timeline when that is newer. 0 when unknown.
 */
export function clusterTimeline(cluster: Cluster): number {
  const lines = cluster.history?.value ?? [];
  const last = lines[lines.length - 1];
  const fromHistory = last ? last.timeline + 1 : 0;
  const leader = cluster.leader ? cluster.members.find((m) => m.name === cluster.leader?.name) : undefined;
  return Math.max(fromHistory, leader?.data.timeline ?? 0);
}

/** The last primary position published in `status` (bytes), 0 when unknown. */
export function lastKnownPrimaryLsn(cluster: Cluster): number {
  return cluster.status?.value.optime ?? 0;
}

/** A position more than `maximum_lag_on_failover` behind the last known primary position. */
export function isLagging(input: Pick<CandidateInput, 'cluster' | 'config'>, walPosition: number): boolean {
  return exceedsLag({ primaryLsn: lastKnownPrimaryLsn(input.cluster), position: walPosition, maxLagBytes: input.config.maximumLagOnFailover });
}

/**
 * Why our replay lag in time exceeds `maximum_lag_on_failover` given as a duration, or null.
 * Unknown lag (no leader observed since the agent started) does not refuse: nothing is known
 * against the candidate, as with the byte check before any `status` was published.
 */
export function replayLagRefusal(input: Pick<CandidateInput, 'config' | 'replayLagMs'>): string | null {
  const limit = input.config.maximumReplayLagOnFailover ?? null;
  const lag = input.replayLagMs ?? null;
  if (limit === null || lag === null || lag <= limit * 1000) return null;
  return `not healthy enough for leader race: replay lag ${(lag / 1000).toFixed(1)} s exceeds maximum_lag_on_failover ${formatLagLimit(limit)}`;
}

/** A failover request in the `failover` key (an empty `{}` is none). */
export function pendingFailover(cluster: Cluster): Failover | null {
  const f = cluster.failover?.value;
  return f && (f.leader || f.member) ? f : null;
}

/** The other members a decision may need to probe: everyone with an API URL but us. */
export function probeTargets(cluster: Cluster, me: string): ProbeTarget[] {
  return cluster.members
    .filter((m) => m.name !== me && typeof m.data.api_url === 'string' && m.data.api_url !== '')
    .map((m) => ({ name: m.name, apiUrl: m.data.api_url as string }));
}

/**
 * Who may promote while synchronous replication is on (Patroni's `sync.matches`): the leader
 * named in the `sync` key and its listed standbys, and how many votes of the other listed
 * standbys a candidate needs (quorum mode). Null when synchronous mode is off or the key names no
 * leader yet (then the usual rules apply, as in Patroni).
 */
export interface SyncGate {
  leader: string;
  standbys: string[];
  quorum: number;
}

export function syncGate(input: Pick<CandidateInput, 'cluster' | 'config'>): SyncGate | null {
  const mode = input.config.synchronousMode ?? 'off';
  const sync = input.cluster.sync?.value;
  if (mode === 'off' || !sync?.leader) return null;
  return { leader: sync.leader, standbys: sync.sync_standby, quorum: sync.quorum };
}

/** The member is the `sync` key's leader or one of its standbys. */
export function matchesSyncGate(gate: SyncGate, name: string): boolean {
  const n = name.toLowerCase();
  return gate.leader.toLowerCase() === n || gate.standbys.some((s) => s.toLowerCase() === n);
}

function peerOf(peers: PeerStatus[], name: string): PeerStatus | undefined {
  return peers.find((p) => p.name === name);
}

function myWal(local: LocalPostgresState): number {
  return local.lsn ?? 0;
}

/**
 * May this member race for the free leader lock? Patroni's `is_healthiest_node`:
 * a starting server may not; a running primary may (unless its timeline is behind); nofailover
 * members may not; a `failover` key switches to the manual rules; otherwise the healthiest-node
 * checks (lag, timeline, other members' positions).
 */
export function evaluateLeaderRace(input: CandidateInput): Verdict {
  const { local, me } = input;
  if (local.state === 'starting') return no('starting', 'PostgreSQL is still starting up');
  if (local.running && local.role === 'primary') {
    const tl = clusterTimeline(input.cluster);
    if (local.timeline !== null && local.timeline < tl) {
      return no('timeline-behind', `My timeline ${local.timeline} is behind last known cluster timeline ${tl}`);
    }
    return yes();
  }
  if (isNoFailover(me.tags)) return no('nofailover', 'I am not allowed to promote');
  const failover = pendingFailover(input.cluster);
  if (failover) return evaluateManualFailoverRace(input, failover);
  if (!input.watchdogHealthy) return no('watchdog', 'Watchdog device is not usable');
  const gate = syncGate(input);
  if (gate) {
    // Only the last leader and its published synchronous standbys hold every acknowledged commit.
    if (!matchesSyncGate(gate, me.name)) return no('not-synchronous', `I am not a synchronous standby (sync_standby: ${gate.standbys.join(',') || 'none'})`);
    return evaluateHealthiest(input, input.cluster.members.filter((m) => matchesSyncGate(gate, m.name)), true);
  }
  return evaluateHealthiest(input, input.cluster.members, true);
}

/**
 * Patroni's `_is_healthiest_node` over `members`: not lagging (when `checkLag`), timeline not
 * behind, no reachable member running as primary, none ahead of us, none level with us at a
 * higher failover priority.
 */
export function evaluateHealthiest(input: CandidateInput, members: Member[], checkLag: boolean): Verdict {
  const notes: string[] = [];
  const wal = myWal(input.local);
  if (checkLag && isLagging(input, wal)) return no('lag-bytes', 'My wal position exceeds maximum replication lag');
  const tooFarBehind = checkLag ? replayLagRefusal(input) : null;
  if (tooFarBehind) return no('lag-time', tooFarBehind);
  if (input.config.checkTimeline) {
    const tl = clusterTimeline(input.cluster);
    const mine = input.local.timeline ?? 0;
    if (mine < tl) return no('timeline-behind', `My timeline ${mine} is behind last known cluster timeline ${tl}`);
  }
  const others = members.filter((m) => m.name !== input.me.name && mayTakeOver(m));
  const gate = syncGate(input);
  const quorum = gate && matchesSyncGate(gate, input.me.name) ? gate.quorum : 0;
  if (others.length === 0 && quorum === 0) return yes();
  if (input.peers === null) return probe(input);
  const myPriority = failoverPriority(input.me.tags);
  for (const m of others) {
    const st = peerOf(input.peers, m.name);
    const limitation = failoverLimitation(st);
    if (limitation || !st) {
      notes.push(`Member ${m.name} is ${limitation ?? 'not reachable'}`);
      continue;
    }
    if (!st.inRecovery) return no('primary-alive', `Primary (${m.name}) is still alive`, notes);
    const theirs = st.walPosition ?? 0;
    if (wal < theirs) {
      // The former leader may be ahead with WAL no standby acknowledged: that does not disqualify us.
      if (gate && gate.leader.toLowerCase() === m.name.toLowerCase()) {
        notes.push(`Wal position of ${m.name} is ahead of my wal position`, 'Ignoring the former leader being ahead of us');
        continue;
      }
      return no('behind-member', `Wal position of ${m.name} is ahead of my wal position`, notes);
    }
    if (wal === theirs && myPriority < failoverPriority(st.tags)) {
      return no(
        'lower-priority',
        `${m.name} has equally tolerable WAL position and priority ${failoverPriority(st.tags)}, while this node has priority ${myPriority}`,
        notes,
      );
    }
  }
  if (gate && quorum > 0) {
    const votes = quorumVotes(input.peers, gate, input.me.name, wal);
    if (votes.ahead) return no('behind-member', `Wal position of ${votes.ahead} is ahead of my wal position`, notes);
    notes.push(...votes.from.map((n) => `Got quorum vote from ${n}`));
    if (votes.from.length < quorum) return no('quorum', `Not enough quorum votes: got ${votes.from.length} of ${quorum}`, notes);
  }
  return yes(notes);
}

/**
 * Votes of the other listed standbys for `me` (quorum mode): each that answers, is in recovery
 * and is not ahead of us. One that is ahead (even a nofailover one) means we may lack commits.
 */
function quorumVotes(peers: PeerStatus[], gate: SyncGate, me: string, wal: number): { from: string[]; ahead: string | null } {
  const from: string[] = [];
  for (const name of gate.standbys) {
    if (name.toLowerCase() === me.toLowerCase()) continue;
    const st = peerOf(peers, name);
    if (!st || !st.reachable || !st.inRecovery) continue;
    if ((st.walPosition ?? 0) > wal) return { from, ahead: name };
    from.push(name);
  }
  return { from, ahead: null };
}

/**
 * Patroni's `is_failover_possible`: is at least one of `members` (other than us, not
 * nofailover) reachable, reporting a WAL position that is not lagging (or, with `clusterLsn`,
 * at least that position) and, with `check_timeline`, on the cluster's timeline?
 */
export function evaluateFailoverPossible(input: CandidateInput, members: Member[], clusterLsn?: number, checkSynchronous = true): Verdict {
  const gate = checkSynchronous ? syncGate(input) : null;
  const candidates = members.filter((m) => m.name !== input.me.name && mayTakeOver(m) && (!gate || matchesSyncGate(gate, m.name)));
  if (candidates.length === 0) return no('no-candidates', 'manual failover: members list is empty');
  if (input.peers === null) return probe(input);
  const notes: string[] = [];
  const tl = clusterTimeline(input.cluster);
  let possible = false;
  for (const m of candidates) {
    const st = peerOf(input.peers, m.name);
    const limitation = failoverLimitation(st);
    if (limitation || !st) notes.push(`Member ${m.name} is ${limitation ?? 'not reachable'}`);
    else if (st.walPosition === null) notes.push(`Member ${m.name} does not report wal_position`);
    else if (clusterLsn !== undefined ? st.walPosition < clusterLsn : isLagging(input, st.walPosition)) {
      notes.push(`Member ${m.name} exceeds maximum replication lag`);
    } else if (input.config.checkTimeline && (st.timeline === null || st.timeline < tl)) {
      notes.push(`Timeline ${st.timeline ?? 'unknown'} of member ${m.name} is behind the cluster timeline ${tl}`);
    } else possible = true;
  }
  return possible ? yes(notes) : no('no-candidates', 'no healthy members found', notes);
}

/**
 * The leader race while a `failover` key names a candidate or a former leader (Patroni's
 * `manual_failover_process_no_leader`): the named candidate races; others race only when it is
 * unhealthy; the former leader races only when nobody else can.
 */
export function evaluateManualFailoverRace(input: CandidateInput, failover: Failover): Verdict {
  const me = input.me.name;
  const notes: string[] = [];
  if (failover.member) {
    if (failover.member === me) return yes([`manual failover: I am the candidate`]);
    const candidate = input.cluster.members.find((m) => m.name === failover.member);
    if (candidate) {
      if (input.peers === null) return probe(input);
      const limitation = failoverLimitation(peerOf(input.peers, candidate.name));
      if (limitation === null) return no('not-the-candidate', `manual failover: to ${candidate.name}, i am ${me}`);
      notes.push(`manual failover: member ${candidate.name} is ${limitation}`);
    }
  }
  if (failover.leader && failover.leader === me) {
    const others = input.cluster.members.filter((m) => m.name !== failover.member && m.name !== failover.leader);
    const possible = evaluateFailoverPossible(input, others);
    if (possible.kind === 'probe') return possible;
    // Somebody else can take over: let them. Otherwise the former leader is the only choice.
    return possible.kind === 'yes'
      ? no('former-leader', 'manual failover: another member can take over', [...notes, ...possible.notes])
      : yes([...notes, ...possible.notes]);
  }
  // A switchover in synchronous mode hands over to a synchronous standby only (a manual failover
  // may pick any member: the operator asked for it).
  const gate = failover.leader ? syncGate(input) : null;
  if (gate && !matchesSyncGate(gate, me)) return no('not-synchronous', `${failover.leader ? 'switchover' : 'manual failover'}: I am not a synchronous standby`, notes);
  const members = input.cluster.members.filter((m) => m.name !== failover.leader && (!gate || matchesSyncGate(gate, m.name)));
  const verdict = evaluateHealthiest(input, members, false);
  return { ...verdict, notes: [...notes, ...verdict.notes] };
}

function yes(notes: string[] = []): Verdict {
  return { kind: 'yes', notes };
}

function no(gate: ExclusionGate, why: string, notes: string[] = []): Verdict {
  return { kind: 'no', notes: [...notes, why], gate };
}

function probe(input: CandidateInput): Verdict {
  return { kind: 'probe', members: probeTargets(input.cluster, input.me.name), notes: [] };
}
