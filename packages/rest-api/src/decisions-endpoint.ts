/**
 * GET /decisions (pgha's own; Patroni has none): the last HA cycles of this member as data, from
 * the agent's decision log (ha-engine runtime/decision-log.ts), oldest first. `?limit=N` keeps
 * the N newest. Read-only and answered from memory, like the health checks.
 */
import type { DecisionRecord } from '@pgha/ha-engine';

/** What the agent gives the API: the decision log's records and how many it keeps. */
export interface DecisionsPort {
  list(limit?: number): DecisionRecord[];
  readonly capacity: number;
}

export interface DecisionsBody {
  member: string;
  /** Records kept at most (`restapi.decisions_history`). */
  capacity: number;
  decisions: DecisionRecord[];
}

export function decisionsAnswer(port: DecisionsPort | undefined, member: string, query: URLSearchParams): { status: number; text: string; json: boolean } {
  if (!port) return { status: 404, text: 'decision records are not kept by this member', json: false };
  const raw = query.get('limit');
  let limit: number | undefined;
  if (raw !== null) {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 0) return { status: 400, text: `limit: expected a whole number >= 0, got ${JSON.stringify(raw)}`, json: false };
  }
  const body: DecisionsBody = { member, capacity: port.capacity, decisions: port.list(limit) };
  return { status: 200, text: JSON.stringify(body), json: true };
}
