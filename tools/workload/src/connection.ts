/**
 * Connections to one member's PostgreSQL as a superuser. Deadlines are client-side only: a
 * server-side `statement_timeout` that cancels a commit waiting for a synchronous standby makes
 * PostgreSQL report success for a commit that is only local, which would count as acknowledged.
 */
import pg from 'pg';
import { SUPERUSER } from '@pgha/local-cluster';

/**
 * Where a member's PostgreSQL is: a client configuration (a chaos target, possibly an attached
 * cluster), or the port of a local-cluster member, reached on loopback as the cluster's superuser.
 */
export type PgTarget = { pg: pg.ClientConfig } | { pgPort: number };

/** A member the writer and the probers work on. */
export type WorkloadMember = PgTarget & { name: string };

export function clientConfig(target: PgTarget): pg.ClientConfig {
  if ('pg' in target) return target.pg;
  return { host: '127.0.0.1', port: target.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres' };
}

/** A client (not yet connected) whose connection and every query give up after `timeoutMs`. */
export function connect(target: PgTarget, timeoutMs: number): pg.Client {
  const client = new pg.Client({ ...clientConfig(target), connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // A server killed under an idle client emits 'error' on it; the next query reports it instead.
  client.on('error', () => {});
  return client;
}

/** One query on a fresh connection; rejects when the server is down or does not answer. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  target: PgTarget,
  text: string,
  values: unknown[] = [],
  timeoutMs = 5000,
): Promise<R[]> {
  const client = connect(target, timeoutMs);
  try {
    await client.connect();
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Like `query`, but null instead of an error (for polling a member that may be down). */
export async function tryQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  target: PgTarget,
  text: string,
  values: unknown[] = [],
  timeoutMs = 5000,
): Promise<R[] | null> {
  return query<R>(target, text, values, timeoutMs).catch(() => null);
}

/** application_name → state of the walsenders on `primary`; empty when it does not answer. */
export async function replicationStates(primary: PgTarget, timeoutMs = 2000): Promise<Map<string, string>> {
  const rows = (await tryQuery<{ application_name: string; state: string }>(
    primary,
    'SELECT application_name, state FROM pg_stat_replication',
    [],
    timeoutMs,
  )) ?? [];
  return new Map(rows.map((r) => [r.application_name, r.state]));
}

/** SQLSTATE of a write refused by a replica (read-only transaction); the connection stays usable. */
export const READ_ONLY = '25006';

export function isReadOnlyRefusal(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === READ_ONLY;
}
