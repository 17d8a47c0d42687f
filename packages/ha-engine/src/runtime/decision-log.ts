/**
 * The last N decisions of this member, in memory (`GET /decisions`): a ring buffer of decision
 * records (core/decision-record.ts), so the memory it holds is bounded by its capacity whatever
 * the uptime. Consecutive cycles with the same outcome (rule, code, sentence, actions and
 * candidate verdicts: the steady `no action` cycles, or a leaderless cluster judging the same
 * candidates again) are collapsed into one record with a count and the latest facts, so the
 * buffer holds the cycles that changed something.
 */
import { decisionRecord, type CycleOutcome, type DecisionRecord } from '../core/decision-record.js';
import type { Decision } from '../core/actions.js';
import type { Snapshot } from '../core/snapshot.js';

/** Records kept by default (`restapi.decisions_history`). */
export const DEFAULT_DECISIONS_HISTORY = 100;
/** The largest capacity accepted: a record is a few KiB at most, so this stays a few MiB. */
export const MAX_DECISIONS_HISTORY = 10_000;

export interface DecisionLog {
  /** Records one cycle. */
  record(snapshot: Snapshot, decision: Decision, outcome: CycleOutcome): void;
  /** The records kept, oldest first; at most `limit` of the newest when given. */
  list(limit?: number): DecisionRecord[];
  /** Records at most this many (0: none). */
  readonly capacity: number;
}

export function createDecisionLog(capacity: number = DEFAULT_DECISIONS_HISTORY): DecisionLog {
  const size = Math.max(0, Math.min(MAX_DECISIONS_HISTORY, Math.floor(capacity)));
  const ring: DecisionRecord[] = [];
  // Index of the oldest record once the ring is full.
  let start = 0;
  const newest = (): DecisionRecord | undefined => (ring.length === 0 ? undefined : ring[(start + ring.length - 1) % ring.length]);
  return {
    capacity: size,
    record(snapshot, decision, outcome) {
      if (size === 0) return;
      const next = decisionRecord(snapshot, decision, outcome, new Date(snapshot.wallNow).toISOString());
      const last = newest();
      if (last && sameOutcome(last, next)) {
        last.count++;
        last.lastTime = next.time;
        last.facts = next.facts;
        last.notes = next.notes;
        return;
      }
      if (ring.length < size) ring.push(next);
      else {
        ring[start] = next;
        start = (start + 1) % size;
      }
    },
    list(limit) {
      const ordered = [...ring.slice(start), ...ring.slice(0, start)];
      return limit !== undefined && limit >= 0 ? ordered.slice(Math.max(0, ordered.length - limit)) : ordered;
    },
  };
}

function sameOutcome(a: DecisionRecord, b: DecisionRecord): boolean {
  return (
    JSON.stringify(a.candidates) === JSON.stringify(b.candidates) &&
    a.rule === b.rule &&
    a.code === b.code &&
    a.reason === b.reason &&
    a.actions.length === b.actions.length &&
    a.actions.every((x, i) => x === b.actions[i])
  );
}
