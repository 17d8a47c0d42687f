/**
 * SQL connections with deadlines. The local server is queried through one long-lived session
 * (reopened after any error); other servers (the primary, for timeline checks) through short
 * one-off connections. A query that does not answer within its deadline destroys its connection,
 * so a hung server never holds a caller.
 */
import pg from 'pg';
import { PostgresError, PostgresErrorCode, describeError } from './errors.js';

export interface ConnectionTarget {
  /** A hostname, an IP address, or a unix socket directory (starting with `/`). */
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  database?: string;
  /** Physical replication protocol (IDENTIFY_SYSTEM, TIMELINE_HISTORY). */
  replication?: boolean;
  ssl?: { mode?: string | undefined };
}

function clientConfig(target: ConnectionTarget, timeoutMs: number): pg.ClientConfig & { replication?: string } {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database ?? 'postgres',
    application_name: 'pgha',
    connectionTimeoutMillis: timeoutMs,
    // Physical replication connections take `replication=true` in the startup packet.
    ...(target.replication ? { replication: 'true' } : {}),
  };
}

function describeTarget(target: ConnectionTarget): string {
  return target.host.startsWith('/') ? `${target.host}/.s.PGSQL.${target.port}` : `${target.host}:${target.port}`;
}

/** Runs `fn` on a fresh connection to `target`, closed afterwards; everything bounded by `timeoutMs`. */
export async function withConnection<T>(target: ConnectionTarget, timeoutMs: number, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(target, timeoutMs));
  client.on('error', () => {}); // reported through the pending call instead
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      (async () => {
        await client.connect();
        return fn(client);
      })(),
      deadline,
    ]);
  } catch (e) {
    throw new PostgresError(PostgresErrorCode.QueryFailed, `query to ${describeTarget(target)} failed: ${describeError(e)}`, { cause: e });
  } finally {
    clearTimeout(timer);
    // end() waits for the server; a hung server must not hold us, so destroy the socket.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    client.end().catch(() => {});
  }
}

/** A long-lived connection to the local server, reopened on demand. */
export class LocalSession {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;

  private readonly target: () => ConnectionTarget;
  private readonly defaultTimeoutMs: number;

  constructor(target: () => ConnectionTarget, defaultTimeoutMs: number) {
    this.target = target;
    this.defaultTimeoutMs = defaultTimeoutMs;
  }

  /** Runs one statement; the result rows. Throws PG_QUERY_FAILED (and drops the connection) on error or timeout. */
  async query<R extends Record<string, unknown>>(text: string, values: unknown[] = [], timeoutMs = this.defaultTimeoutMs): Promise<R[]> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const result = await Promise.race([
        (async () => {
          const client = await this.connect(timeoutMs);
          return client.query<R>(text, values);
        })(),
        deadline,
      ]);
      return result.rows;
    } catch (e) {
      this.close();
      throw new PostgresError(PostgresErrorCode.QueryFailed, `query to the local server ${describeTarget(this.target())} failed: ${describeError(e)}`, {
        cause: e,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private connect(timeoutMs: number): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client(clientConfig(this.target(), timeoutMs));
      client.on('error', () => {
        if (this.client === client) this.client = undefined;
      });
      try {
        await client.connect();
        this.client = client;
        return client;
      } catch (e) {
        client.end().catch(() => {});
        throw e;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  /** Drops the connection (the next query opens a new one). */
  close(): void {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    client.end().catch(() => {});
  }
}
