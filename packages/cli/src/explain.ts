/**
 * `pghactl explain`, the data: which member would win a failover now and why each other would
 * not, judged by the engine's own race rule (ha-engine `candidateVerdicts`) with every member's
 * `GET /patroni` answer as it would probe them; and, for `--history`, the failover-related
 * records of the members' `GET /decisions`. Pure functions: the command does the calls.
 */
import type { Cluster } from '@pgha/dcs';
import {
  candidateVerdicts,
  failoverExclusions,
  peerStatusFromApi,
  racingMemberOfPeer,
  resolveEngineConfig,
  unreachable,
  type CandidateVerdict,
  type DecisionRecord,
  type PeerStatus,
  type ReasonCode,
} from '@pgha/ha-engine';

/**
 * A member's `GET /patroni` answer (parsed JSON), or why there is none; and its replay lag in
 * time (ms) from its newest decision record, when it reported one: only a member knows its own.
 */
export type MemberAnswer = ({ name: string; json: unknown } | { name: string; error: string }) & { replayLagMs?: number | null };

export interface Explanation {
  /** The lock holder now; it is assumed gone for the verdicts. Null when the lock is free. */
  leader: string | null;
  verdicts: CandidateVerdict[];
  /** One sentence: who would take over, or why nobody would. */
  summary: string;
}

/**
 * If the leader failed now: the race as every other member would run it. The leader's key and
 * REST API count as gone; a member whose REST API gives no WAL position is unreachable, or not
 * running when its member key says so. The time lag gate applies to members that reported their
 * replay lag (`replayLagMs`).
 */
export function explainFailover(cluster: Cluster, answers: readonly MemberAnswer[]): Explanation {
  const leader = cluster.leader?.name ?? null;
  const { config } = resolveEngineConfig(cluster.config?.value);
  const peers: PeerStatus[] = answers.map((a) => {
    if (a.name === leader) return unreachable(a.name, 'the leader is assumed gone');
    return 'json' in a ? peerStatusFromApi(a.name, a.json) : unreachable(a.name, a.error);
  });
  const dcsGates = new Map(failoverExclusions(cluster, config).map((e) => [e.name, e.exclusion]));
  const members = cluster.members
    .filter((m) => m.name !== leader)
    .map((m) => {
      const peer = peers.find((p) => p.name === m.name) ?? unreachable(m.name, 'no api_url in its member key');
      const json = answers.find((a) => a.name === m.name && 'json' in a);
      const state = json && 'json' in json && isObject(json.json) && typeof json.json['state'] === 'string' ? json.json['state'] : undefined;
      const lag = answers.find((a) => a.name === m.name)?.replayLagMs;
      const racing = racingMemberOfPeer(peer, state);
      return racing.local && typeof lag === 'number' ? { ...racing, replayLagMs: lag } : racing;
    });
  const verdicts = candidateVerdicts({ cluster: { ...cluster, leader: null }, config, members, peers }).map((v) => {
    // A stopped member's API answers without a WAL position: say it is not running.
    const dcs = dcsGates.get(v.member);
    return v.gate === 'unreachable' && dcs?.gate === 'not-running' ? { ...v, gate: dcs.gate, detail: dcs.why } : v;
  });
  return { leader, verdicts, summary: summary(leader, verdicts) };
}

function summary(leader: string | null, verdicts: CandidateVerdict[]): string {
  const chosen = verdicts.find((v) => v.verdict === 'chosen');
  const eligible = verdicts.filter((v) => v.verdict === 'eligible').map((v) => v.member);
  const lead = leader ? `if ${leader} failed now, ` : 'the leader lock is free: ';
  if (chosen) return `${lead}${chosen.member} would take over`;
  if (eligible.length > 0) return `${lead}the first of ${eligible.join(', ')} to take the lock would win (equal positions and priorities)`;
  if (verdicts.length === 0) return `${lead}no other member could take over`;
  return `${lead}no member would take over: ${verdicts.map((v) => `${v.member} ${v.gate ?? 'excluded'}`).join(', ')}`;
}

/** Codes of the cycles that explain a failover, a switchover or a replica repair (besides any with candidate verdicts). */
const FAILOVER_CODES: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  'race.won',
  'race.won.primary',
  'race.won.standby-leader',
  'race.lost',
  'race.lost.demote',
  'race.lost.not-healthiest',
  'race.lost.not-allowed',
  'race.demote.not-healthiest',
  'race.demote.not-allowed',
  'switchover.demoting',
  'switchover.cleared',
  'leader.start-timeout',
  'leader.start-timeout-no-failover',
  'recover.failover-after-crash',
  'leader.renew-lost',
  'dcs.unavailable.demote',
  'follow.demote',
  'long-action.lost-lock',
  'long-action.lost-before-promote',
  'promote.cancelled',
  'watchdog.not-promoting',
  'watchdog.demote',
  // A replica repaired for not streaming (wal-receiver.ts in the engine).
  'receiver.repoint',
  'receiver.restart',
  'receiver.restart-postgres',
  'receiver.rewind',
  'receiver.reinitialize',
  'receiver.stuck',
]);

export interface HistoryRow {
  time: string;
  member: string;
  record: DecisionRecord;
}

/** The failover, switchover and replica-repair records of every member, oldest first, the newest `limit`. */
export function failoverHistory(byMember: ReadonlyArray<{ member: string; records: readonly DecisionRecord[] }>, limit: number): HistoryRow[] {
  const rows = byMember.flatMap(({ member, records }) =>
    records.filter((r) => FAILOVER_CODES.has(r.code) || (r.candidates?.length ?? 0) > 0).map((record) => ({ time: record.time, member, record })),
  );
  rows.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.member < b.member ? -1 : 1));
  return rows.slice(Math.max(0, rows.length - limit));
}

/** The records of a `GET /decisions` body; null when it has none (not pgha's answer). */
export function decisionRecordsOf(body: unknown): DecisionRecord[] | null {
  const list = typeof body === 'object' && body !== null ? (body as { decisions?: unknown }).decisions : undefined;
  return Array.isArray(list) ? (list as DecisionRecord[]) : null;
}

/** The records of a `GET /decisions` body, none when it has none. */
export function recordsOf(body: unknown): DecisionRecord[] {
  return decisionRecordsOf(body) ?? [];
}

/** `chosen`, `eligible`, or `excluded: <gate> (<detail>)`: one verdict in a cell. */
export function verdictText(v: CandidateVerdict): string {
  if (v.verdict !== 'excluded') return v.verdict;
  return `excluded: ${v.gate ?? 'unknown'}${v.detail ? ` (${v.detail})` : ''}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
