/**
 * Whether to accept a `POST /failsafe` ping (failsafe mode, see rules/failsafe.ts).
 *
 * An accepted ping makes this replica treat the sender as its primary for ttl: it stays out of
 * every leader race and follows the sender's `conn_url`. Patroni trusts the request as it comes,
 * so anyone who can reach a replica's API could block failovers and re-point `primary_conninfo`
 * (with the replication password offered by `.pgpass`) to a host of his. We accept a ping only
 *
 * - from the member the DCS last named leader (the last lock holder read), by name;
 * - from that member's address, when its member key's `api_url` / `conn_url` hosts are IP
 *   literals or `localhost` (host names are not resolved here: the API's allowlist can do that);
 *
 * and the connection string we follow is the `conn_url` of that member's DCS member key as last
 * read, never the one in the request. A Patroni primary sends `{name, conn_url, api_url, slots}`:
 * when it is the real leader, its ping is accepted the same way.
 */
import type { Cluster } from '@pgha/dcs';
import type { EngineConfig } from './config.js';
import type { FailsafePing, LocalPostgresState } from './snapshot.js';

/** A `POST /failsafe` request, as the REST API received it. */
export interface FailsafeRequest {
  name: string;
  /** What the sender claims; kept for logs, never followed (the DCS member key's is). */
  conn_url?: string;
  api_url?: string;
  /** The request's source address (the socket's remote address), when known. */
  source?: string;
}

/**
 * The answer to `POST /failsafe`: `accepted` (200 `Accepted`, with our WAL position as the `lsn`
 * header), `leader` (500 `Running as a leader`), `disabled` (502, failsafe mode is off),
 * `refused` (the sender is not the leader we last read: 409, or not at its address: 403).
 */
export type FailsafeAnswer =
  | { kind: 'accepted'; lsn: number | null }
  | { kind: 'leader' }
  | { kind: 'disabled' }
  | { kind: 'refused'; status: 403 | 409; reason: string };

/** The leader as the last successful DCS read showed it, with its member key's addresses. */
export interface LastLeader {
  name: string;
  connUrl: string | null;
  apiUrl: string | null;
}

/**
 * The last lock holder after reading `cluster`. A free lock keeps the previous holder: a primary
 * cut off from the DCS loses its key after ttl, and its pings must still be recognised. A leader
 * whose member key is gone keeps the addresses read before, if it is the same member.
 */
export function lastLeaderOf(cluster: Cluster, previous: LastLeader | null): LastLeader | null {
  const name = cluster.leader?.name;
  if (!name) return previous;
  const data = cluster.members.find((m) => m.name === name)?.data;
  const same = previous?.name === name ? previous : null;
  const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  return {
    name,
    connUrl: text(data?.conn_url) ?? same?.connUrl ?? null,
    apiUrl: text(data?.api_url) ?? same?.apiUrl ?? null,
  };
}

export interface FailsafePingInput {
  request: FailsafeRequest;
  failsafeMode: boolean;
  /** This member runs PostgreSQL as a primary (Patroni answers `Running as a leader`). */
  localPrimary: boolean;
  /** Our WAL position, for the `lsn` header. */
  lsn: number | null;
  lastLeader: LastLeader | null;
  /** Monotonic ms now (the ping's `receivedAt`). */
  now: number;
}

/** The answer, and the ping to remember when accepted. */
export function judgeFailsafePing(input: FailsafePingInput): { answer: FailsafeAnswer; ping: FailsafePing | null } {
  const { request, lastLeader } = input;
  if (!input.failsafeMode) return { answer: { kind: 'disabled' }, ping: null };
  if (input.localPrimary) return { answer: { kind: 'leader' }, ping: null };
  if (!lastLeader || lastLeader.name !== request.name) {
    const known = lastLeader ? `the DCS last named ${lastLeader.name}` : 'no leader was read from the DCS yet';
    return refused(409, `name: ${JSON.stringify(request.name)} is not the leader (${known})`);
  }
  const hosts = [lastLeader.apiUrl, lastLeader.connUrl].map((u) => (u === null ? null : hostOf(u))).filter((h): h is string => h !== null);
  const checkable = hosts.filter((h) => h === 'localhost' || ipLiteral(h) !== null);
  if (request.source !== undefined && checkable.length > 0 && !checkable.some((h) => sameHost(h, request.source as string))) {
    return refused(403, `the request comes from ${request.source}, not from ${lastLeader.name}'s address (${[...new Set(checkable)].join(', ')})`);
  }
  return {
    answer: { kind: 'accepted', lsn: input.lsn },
    ping: { name: lastLeader.name, connUrl: lastLeader.connUrl, apiUrl: lastLeader.apiUrl, receivedAt: input.now },
  };
}

function refused(status: 403 | 409, reason: string): { answer: FailsafeAnswer; ping: null } {
  return { answer: { kind: 'refused', status, reason }, ping: null };
}

/** The host of an `http://` or `postgres://` URL, without IPv6 brackets; null when unparsable. */
function hostOf(url: string): string | null {
  try {
    const host = new URL(url).hostname;
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return bare === '' ? null : bare.toLowerCase();
  } catch {
    return null;
  }
}

/** The canonical form of an IP literal (IPv4-mapped IPv6 as IPv4), or null for a host name. */
function ipLiteral(host: string): string | null {
  const h = host.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) return mapped[1] as string;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(h)) return h === '0.0.0.0' ? null : h;
  // Any IPv6 literal has a colon; a wildcard address says nothing about who sends.
  if (h.includes(':')) return h === '::' ? null : expandIpv6(h);
  return null;
}

function expandIpv6(h: string): string {
  const [head = '', tail] = h.split('::');
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  const zeros = tail === undefined ? [] : Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...zeros, ...right].map((p) => p.replace(/^0+(?=.)/, '')).join(':');
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '0:0:0:0:0:0:0:1';
}

function sameHost(host: string, source: string): boolean {
  const from = ipLiteral(source);
  if (from === null) return false;
  if (host === 'localhost') return isLoopback(from);
  return ipLiteral(host) === from;
}

/**
 * The answer to a ping from what the runtime last saw: Patroni answers `Running as a leader`
 * when PostgreSQL was last read running as a primary (a state that could not be read is not one).
 */
export function answerFailsafePing(input: {
  request: FailsafeRequest;
  config: Pick<EngineConfig, 'failsafeMode'>;
  local: LocalPostgresState | null;
  lastLeader: LastLeader | null;
  now: number;
}): { answer: FailsafeAnswer; ping: FailsafePing | null } {
  const { local } = input;
  return judgeFailsafePing({
    request: input.request,
    failsafeMode: input.config.failsafeMode,
    localPrimary: local?.running === true && local.role === 'primary' && !local.unknown,
    lsn: local?.lsn ?? null,
    lastLeader: input.lastLeader,
    now: input.now,
  });
}

/**
 * Failsafe mode is in effect for this member: as a primary, a round of acknowledgements holds
 * until `holdUntil`; as a replica, a primary pinged us less than ttl ago.
 */
export function failsafeActive(f: {
  config: Pick<EngineConfig, 'failsafeMode' | 'ttl'>;
  now: number;
  holdUntil: number | null;
  ping: FailsafePing | null;
}): boolean {
  if (!f.config.failsafeMode) return false;
  if (f.holdUntil !== null && f.now < f.holdUntil) return true;
  return f.ping !== null && f.now - f.ping.receivedAt < f.config.ttl * 1000;
}
