/**
 * A member's `conn_url` (`postgres://host:port/postgres`), as Patroni writes it into the member
 * key. The engine reads it to decide whether a member can be streamed from at all; the agent's
 * PostgreSQL adapter turns it into the host and port of `primary_conninfo`.
 */

/**
 * Parses a member's `conn_url` (`postgres://host:port/postgres`) into host and port; null when
 * it is not such a URL (another scheme, no host, not a URL at all).
 */
export function parseConnUrl(url: string): { host: string; port: number } | null {
  try {
    const u = new URL(url);
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return null;
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') return null;
    return { host, port: u.port === '' ? 5432 : Number(u.port) };
  } catch {
    return null;
  }
}
