/**
 * SQL connections with deadlines. The local server is queried through one long-lived session
 * (reopened after any error); other servers (the primary, for timeline checks) through short
 * one-off connections. A query that does not answer within its deadline destroys its connection,
 * so a hung server never holds a caller. Every connection honours the libpq security keys of its
 * role (connection-security.ts).
 */
import { TLSSocket } from 'node:tls';
import pg from 'pg';
import { connectionPlan, tlsOptions, type ConnectionSecurity } from './connection-security.js';
import { PostgresError, PostgresErrorCode, describeError, isPostgresError } from './errors.js';

export interface ConnectionTarget {
  /** A hostname, an IP address, or a unix socket directory (starting with `/`). */
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  database?: string;
  /** Physical replication protocol (IDENTIFY_SYSTEM, TIMELINE_HISTORY). */
  replication?: boolean;
  /** The role's `sslmode`, certificates, `channel_binding`, ... (default: libpq's defaults). */
  security?: ConnectionSecurity | undefined;
  /** The config key of that role, for error messages: `postgresql.authentication.replication`. */
  securityKey?: string;
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

/** Closes a client without waiting for the server. */
function destroyClient(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  client.end().catch(() => {});
}

/**
 * `channel_binding: require`: fails the connection, before any password goes out, unless the
 * server authenticates with SCRAM-SHA-256-PLUS over TLS (libpq refuses trust, password and md5
 * authentication in that mode too).
 */
function requireChannelBinding(client: pg.Client): void {
  const con = (client as unknown as { connection: NodeJS.EventEmitter & { stream: NodeJS.EventEmitter & { destroy(): void } } }).connection;
  let bound = false;
  const refuse = (why: string) => {
    con.stream.destroy();
    con.emit('error', new Error(`channel_binding is require, but ${why}`));
  };
  con.prependListener('authenticationCleartextPassword', () => refuse('the server asked for a cleartext password'));
  con.prependListener('authenticationMD5Password', () => refuse('the server asked for md5 authentication'));
  con.prependListener('authenticationSASL', (msg: { mechanisms?: string[] }) => {
    if (!(con.stream instanceof TLSSocket)) return refuse('the connection is not encrypted');
    if (!msg.mechanisms?.includes('SCRAM-SHA-256-PLUS')) return refuse('the server does not offer SCRAM-SHA-256-PLUS');
    bound = true; // node-postgres picks -PLUS when offered over TLS (enableChannelBinding)
  });
  con.prependListener('authenticationOk', () => {
    if (!bound) refuse('the server did not authenticate with SCRAM-SHA-256-PLUS');
  });
}

/**
 * A connected client to `target`, trying plaintext and TLS in the order its `sslmode` says (a
 * fresh connection each). `track` sees every client made, so a caller's deadline can destroy it.
 * Throws the failures of all attempts in one error, or PG_CONFIG for a bad key or file.
 */
async function openClient(target: ConnectionTarget, timeoutMs: number, track: (client: pg.Client) => void): Promise<pg.Client> {
  const where = target.securityKey ?? 'postgresql.authentication';
  const plan = connectionPlan(target.security, target.host, where);
  const failures: string[] = [];
  for (const attempt of plan.attempts) {
    const config: pg.ClientConfig = { ...clientConfig(target, timeoutMs), enableChannelBinding: plan.channelBinding !== 'disable' };
    if (attempt === 'tls') {
      config.ssl = await tlsOptions(plan, target.security, where);
      if (plan.directTls) config.sslnegotiation = 'direct';
    }
    const client = new pg.Client(config);
    track(client);
    client.on('error', () => {}); // reported through connect() instead
    if (plan.channelBinding === 'require') requireChannelBinding(client);
    try {
      await client.connect();
      return client;
    } catch (e) {
      destroyClient(client);
      failures.push(plan.attempts.length > 1 ? `${attempt === 'tls' ? 'with TLS' : 'without TLS'}: ${describeError(e)}` : describeError(e));
    }
  }
  throw new Error(`${failures.join('; ')} (${where}.sslmode ${plan.mode}${target.host.startsWith('/') ? ', unix socket' : ''})`);
}

/** Runs `fn` on a fresh connection to `target`, closed afterwards; everything bounded by `timeoutMs`. */
export async function withConnection<T>(target: ConnectionTarget, timeoutMs: number, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const clients: pg.Client[] = [];
  let finished = false;
  const track = (client: pg.Client) => {
    // An attempt begun after the deadline must not outlive the call.
    if (finished) {
      destroyClient(client);
      throw new Error('the call is over');
    }
    clients.push(client);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      (async () => fn(await openClient(target, timeoutMs, track)))(),
      deadline,
    ]);
  } catch (e) {
    if (isPostgresError(e, PostgresErrorCode.Config)) throw e;
    throw new PostgresError(PostgresErrorCode.QueryFailed, `query to ${describeTarget(target)} failed: ${describeError(e)}`, { cause: e });
  } finally {
    clearTimeout(timer);
    finished = true;
    // end() waits for the server; a hung server must not hold us, so destroy the socket.
    for (const client of clients) destroyClient(client);
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
      const made: pg.Client[] = [];
      try {
        const client = await openClient(this.target(), timeoutMs, (c) => made.push(c));
        client.on('error', () => {
          if (this.client === client) this.client = undefined;
        });
        this.client = client;
        return client;
      } catch (e) {
        for (const c of made) destroyClient(c);
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
    if (client) destroyClient(client);
  }
}
