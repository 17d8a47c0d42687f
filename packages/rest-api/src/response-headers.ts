/** The headers every REST API response carries: `restapi.server_tokens` and the extra headers. */

/** `restapi.server_tokens` values (Patroni 4.1; YAML may spell them in any case). */
export const SERVER_TOKENS = ['original', 'productonly', 'minimal'] as const;
export type ServerTokens = (typeof SERVER_TOKENS)[number];

/**
 * The `Server` header for `restapi.server_tokens`, as Patroni 4.1's `construct_server_tokens`
 * builds it: `original` leaves the server's own (node:http sends none, so there is none: nothing
 * about Node or PostgreSQL is disclosed), `productonly` names the product alone (`pgha`), and
 * `minimal` the product and its version (`pgha/0.1.0`). Null means no header.
 */
export function serverHeader(tokens: ServerTokens | undefined, version: string): string | null {
  switch (tokens ?? 'original') {
    case 'original':
      return null;
    case 'productonly':
      return 'pgha';
    case 'minimal':
      return `pgha/${version}`;
  }
}

export interface HeaderSettings {
  tls?: unknown;
  httpExtraHeaders?: Record<string, string>;
  httpsExtraHeaders?: Record<string, string>;
  serverTokens?: ServerTokens;
}

/** The `Server` header and the extra headers of `settings`, as sent on every response. */
export function responseHeaders(settings: HeaderSettings, version: string): Record<string, string> {
  const headers: Record<string, string> = { ...(settings.httpExtraHeaders ?? {}), ...(settings.tls ? (settings.httpsExtraHeaders ?? {}) : {}) };
  // On every response, errors included; a Server header among the extra headers wins.
  const serverName = serverHeader(settings.serverTokens, version);
  if (serverName !== null && !Object.keys(headers).some((name) => name.toLowerCase() === 'server')) headers['Server'] = serverName;
  return headers;
}

