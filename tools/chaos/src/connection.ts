/**
 * Connections to one member's PostgreSQL as a superuser. Deadlines are client-side only: a
 * server-side `statement_timeout` that cancels a commit waiting for a synchronous standby makes
 * PostgreSQL report success for a commit that is only local, which would count as acknowledged.
 */
import pg from 'pg';
import type { ChaosMember } from './target.js';

export function connect(member: Pick<ChaosMember, 'pg'>, timeoutMs: number): pg.Client {
  const client = new pg.Client({ ...member.pg, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // A server killed under an idle client emits 'error' on it; the next query reports it instead.
  client.on('error', () => {});
  return client;
}

/** One query on a fresh connection; rejects when the server is down or does not answer. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  member: Pick<ChaosMember, 'pg'>,
  text: string,
  values: unknown[] = [],
  timeoutMs = 5000,
): Promise<R[]> {
  const client = connect(member, timeoutMs);
  try {
    await client.connect();
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}
