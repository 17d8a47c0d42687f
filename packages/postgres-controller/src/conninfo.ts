/**
 * Addresses and libpq connection strings: parsing `postgresql.listen` / `connect_address`,
 * building `key=value` conninfo strings for primary_conninfo, pg_basebackup and pg_rewind, and
 * the lines of a .pgpass file. Passwords only ever go into the .pgpass file.
 */
import type { Authentication } from './config.js';
import { PostgresError, PostgresErrorCode } from './errors.js';

export interface HostPort {
  /** One or more hosts (`listen` may give a comma-separated list). */
  hosts: string[];
  port: number;
}

/**
 * Parses `host[,host...][:port]` (IPv6 in brackets: `[::1]:5432`). `keyPath` names the config key
 * in the error message.
 */
export function parseHostPort(text: string, keyPath: string, defaultPort = 5432): HostPort {
  const value = text.trim();
  let hostPart = value;
  let port = defaultPort;
  const bracketed = /^(.*\])(?::(\d+))?$/.exec(value);
  const lastColon = value.lastIndexOf(':');
  if (bracketed) {
    hostPart = bracketed[1]!;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (lastColon >= 0 && value.indexOf(':') === lastColon) {
    hostPart = value.slice(0, lastColon);
    const portText = value.slice(lastColon + 1);
    if (!/^\d+$/.test(portText)) {
      throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: ${keyPath}: port "${portText}" in "${text}" is not a number`);
    }
    port = Number(portText);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: ${keyPath}: port ${port} in "${text}" is out of range`);
  }
  const hosts = hostPart
    .split(',')
    .map((h) => h.trim().replace(/^\[(.*)\]$/, '$1'))
    .filter((h) => h.length > 0);
  if (hosts.length === 0) {
    throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: ${keyPath}: no host in "${text}"`);
  }
  return { hosts, port };
}

/** The address to reach a server listening on `host` from the same machine. */
export function localHostFor(host: string): string {
  if (host === '*' || host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** Quotes a conninfo value when libpq needs it (empty, spaces, quotes or backslashes). */
export function quoteConninfoValue(value: string): string {
  if (value.length > 0 && !/[\s'\\]/.test(value)) return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Parses a `key=value key='quoted value'` conninfo string (the inverse of formatConninfo). */
export function parseConninfo(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const pattern = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/gy;
  let m: RegExpExecArray | null;
  while ((m = pattern.exec(text)) !== null) {
    result[m[1]!] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    if (pattern.lastIndex >= text.length) break;
  }
  return result;
}

/** `key=value key=value`, skipping undefined values, in the given order. */
export function formatConninfo(params: Record<string, string | number | undefined>): string {
  return Object.entries(params)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${quoteConninfoValue(String(v))}`)
    .join(' ');
}

/**
 * The SSL / GSS options of an authentication block, as conninfo keys (never the login password,
 * which is in the .pgpass file). `sslpassword` is here for primary_conninfo (a 0600 file, as in
 * Patroni); command lines move it to a service file instead.
 */
export function sslOptions(auth: Authentication | undefined): Record<string, string | undefined> {
  return {
    sslmode: auth?.sslmode ?? 'prefer',
    sslkey: auth?.sslkey,
    sslpassword: auth?.sslpassword,
    sslcert: auth?.sslcert,
    sslrootcert: auth?.sslrootcert,
    sslcrl: auth?.sslcrl,
    sslcrldir: auth?.sslcrldir,
    sslnegotiation: auth?.sslnegotiation,
    gssencmode: auth?.gssencmode,
    channel_binding: auth?.channel_binding,
  };
}

/** A `postgres://user@host:port/db` URL without password, as Patroni hands to post_bootstrap scripts. */
export function connectionUrl(options: { user?: string | undefined; host: string; port: number; database?: string }): string {
  const host = options.host.startsWith('/') ? '' : options.host.includes(':') ? `[${options.host}]` : options.host;
  const user = options.user ? `${encodeURIComponent(options.user)}@` : '';
  const query = options.host.startsWith('/') ? `?host=${encodeURIComponent(options.host)}` : '';
  return `postgres://${user}${host}:${options.port}/${encodeURIComponent(options.database ?? 'postgres')}${query}`;
}

/** One .pgpass line: `host:port:database:user:password`, with `:` and `\` escaped. */
export function pgpassLine(entry: { host?: string; port?: number | string; database?: string; user: string; password: string }): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  return [entry.host ?? '*', String(entry.port ?? '*'), entry.database ?? '*', entry.user, entry.password].map((s, i) => (i === 4 || s !== '*' ? esc(s) : s)).join(':');
}

/** The hosts and port a role's password is offered to, and that role. */
export interface PgpassTarget {
  /** Host names, IP addresses or unix socket directories, as the connection names them. */
  hosts: readonly string[];
  port: number;
  auth: Authentication | undefined;
}

/**
 * The .pgpass content: one line per host and port a connection targets, for the role it uses
 * (never `*` for the host or port, so a password is offered to no other server). Roles without a
 * user name or password give no line. When two targets give the same host, port and user, the
 * first wins, as libpq uses the first match. A socket directory also gets a `localhost` line: libpq
 * matches connections through the default socket directory against `localhost` (as Patroni does).
 */
export function pgpassContent(targets: readonly PgpassTarget[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const { hosts, port, auth } of targets) {
    if (!auth?.username || auth.password === undefined) continue;
    const names = hosts.map((h) => h.trim()).filter((h) => h.length > 0 && h !== '*');
    if (names.some((h) => h.startsWith('/')) && !names.includes('localhost')) names.push('localhost');
    for (const host of names) {
      const key = JSON.stringify([host, port, auth.username]);
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push(pgpassLine({ host, port, user: auth.username, password: auth.password }));
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
