/** POST /failsafe: the answer to a primary's failsafe ping. */
import type { FailsafeAnswer, FailsafeRequest } from '@pgha/ha-engine';
import type { ApiAnswer } from './switchover.js';

export type FailsafePort = (request: FailsafeRequest) => FailsafeAnswer;

/**
 * Patroni's `do_POST_failsafe`: a primary cut off from the DCS asks us to acknowledge it.
 * 200 `Accepted` with our WAL position in the `lsn` header; 500 when we run as a primary
 * ourselves; 502 when failsafe mode is off.
 */
export function acceptFailsafe(port: FailsafePort | undefined, body: Record<string, unknown>, source?: string): ApiAnswer & { headers?: Record<string, string> } {
  const name = body['name'];
  if (typeof name !== 'string' || name === '') return { status: 400, text: 'Bad Request: POST /failsafe needs the field "name" (the primary\'s member name)' };
  if (!port) return { status: 502, text: 'Failsafe mode is not enabled' };
  // The loop decides whether `name` is the leader and `source` its address (ha-engine failsafe-ping.ts).
  const request: FailsafeRequest = { name, ...(source ? { source } : {}) };
  if (typeof body['conn_url'] === 'string') request.conn_url = body['conn_url'];
  if (typeof body['api_url'] === 'string') request.api_url = body['api_url'];
  const answer = port(request);
  switch (answer.kind) {
    case 'accepted':
      return { status: 200, text: 'Accepted', ...(answer.lsn !== null ? { headers: { lsn: String(answer.lsn) } } : {}) };
    case 'leader':
      return { status: 500, text: 'Running as a leader' };
    case 'disabled':
      return { status: 502, text: 'Failsafe mode is not enabled' };
    case 'refused':
      return { status: answer.status, text: `POST /failsafe refused: ${answer.reason}` };
  }
}

