/**
 * Short-lived SQL connections to one member's PostgreSQL, as the superuser. Every connection and
 * query has a deadline, so a frozen or dead server costs a bounded wait, never a hang.
 */
import pg from 'pg';
import { SUPERUSER, type MemberHandle } from '@pgha/local-cluster';

export const PROBE_TABLE = 'e2e_probe';

export function clientFor(member: Pick<MemberHandle, 'pgPort'>, timeoutMs = 2000): pg.Client {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: member.pgPort,
    user: SUPERUSER.username,
    password: SUPERUSER.password,
    database: 'postgres',
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
  });
  // A server killed under an idle client emits 'error' on it; the next query reports it instead.
  client.on('error', () => {});
  return client;
}

/** Runs one query on a fresh connection; rejects when the server is down or does not answer. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  member: Pick<MemberHandle, 'pgPort'>,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = clientFor(member);
  try {
    await client.connect();
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Like `query`, but null instead of an error. */
export async function tryQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  member: Pick<MemberHandle, 'pgPort'>,
  text: string,
  values: unknown[] = [],
): Promise<R[] | null> {
  return query<R>(member, text, values).catch(() => null);
}

/** application_name → state of the walsenders on `primary`. */
export async function replicationStates(primary: Pick<MemberHandle, 'pgPort'>): Promise<Map<string, string>> {
  const rows = (await tryQuery<{ application_name: string; state: string }>(
    primary,
    'SELECT application_name, state FROM pg_stat_replication',
  )) ?? [];
  return new Map(rows.map((r) => [r.application_name, r.state]));
}
