/**
 * Calls to a member's REST API (Patroni's endpoints), with Basic auth and a deadline. The URL is
 * the member's `api_url` with its last path segment replaced by the endpoint, as patronictl
 * builds it (`http://host:8008/patroni` → `http://host:8008/restart`).
 *
 * https APIs are called as `tls` says (ha-engine `restClientTls`: the `ctl` client certificate,
 * `ctl.cacert` / `restapi.cafile`, `-k`). The files are read on the first https call, so a
 * command that only reads the DCS never needs them.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { Member } from '@pgha/dcs';
import { restClientTls, tlsFailureHint, type RestClientTls } from '@pgha/ha-engine';
import type { BasicAuth } from './ctl-config.js';
import { CliError, CliErrorCode } from './errors.js';

export interface ApiResponse {
  status: number;
  body: string;
}

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  endpoint: string;
  body?: unknown;
}

export interface ApiClientOptions {
  auth: BasicAuth | undefined;
  /** TLS towards https APIs; default: verified against Node's public roots, no client certificate. */
  tls?: RestClientTls;
  /** Deadline of one request, milliseconds. */
  timeoutMs: number;
}

export type ApiClient = (member: Member, req: ApiRequest) => Promise<ApiResponse>;

export function endpointUrl(apiUrl: string, endpoint: string): string {
  const cut = apiUrl.replace(/\/+$/, '');
  const slash = cut.indexOf('/', cut.indexOf('//') + 2);
  const base = slash === -1 ? cut : cut.slice(0, cut.lastIndexOf('/'));
  return `${base}/${endpoint}`;
}

type TlsOptions = RequestOptions & Pick<ConnectionOptions, 'secureContext'>;

/** The node:https options of `tls`, files read now; a CLI_CONFIG error naming the key otherwise. */
function tlsOptions(tls: RestClientTls): TlsOptions {
  const file = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new CliError(CliErrorCode.Config, `${key}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  };
  const certKey = tls.cert?.from ?? 'ctl.certfile';
  const keyKey = certKey === 'ctl.certfile' ? 'ctl.keyfile' : 'restapi.keyfile';
  let secureContext;
  try {
    secureContext = createSecureContext({
      ...(tls.ca ? { ca: file(tls.ca.from, tls.ca.file) } : {}),
      ...(tls.cert
        ? { cert: file(certKey, tls.cert.certfile), key: file(keyKey, tls.cert.keyfile), ...(tls.cert.passphrase !== undefined ? { passphrase: tls.cert.passphrase } : {}) }
        : {}),
    });
  } catch (e) {
    if (e instanceof CliError) throw e;
    const hint = tlsFailureHint(e, { tls, host: 'pghactl', handshakeDone: false });
    throw new CliError(CliErrorCode.Config, `${certKey}: cannot use the client certificate ${tls.cert?.certfile ?? ''} with ${tls.cert?.keyfile ?? ''}: ${hint ?? (e as Error).message}`, { cause: e });
  }
  return { secureContext, rejectUnauthorized: tls.verify !== 'none' };
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const tls = options.tls ?? restClientTls({ client: 'ctl' });
  let secure: TlsOptions | null = null;
  return (member, req) => {
    const apiUrl = member.data.api_url;
    if (!apiUrl) {
      return Promise.reject(new CliError(CliErrorCode.Api, `member ${member.name} has no api_url in the DCS: its REST API cannot be called`));
    }
    const url = endpointUrl(apiUrl, req.endpoint);
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (options.auth) headers.authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
    return new Promise<ApiResponse>((resolveResponse, reject) => {
      const fail = (why: string): void =>
        reject(new CliError(CliErrorCode.Api, `${req.method} ${url} (member ${member.name}) failed: ${why}`));
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        fail(`invalid api_url '${apiUrl}'`);
        return;
      }
      const https = target.protocol === 'https:';
      if (https && !secure) {
        try {
          secure = tlsOptions(tls);
        } catch (e) {
          reject(e);
          return;
        }
      }
      const send = https ? httpsRequest : httpRequest;
      let handshakeDone = false;
      const r = send(
        target,
        // A connection of its own: the global agent would reuse a pooled socket (or TLS session)
        // opened with other certificates, since its pool key does not include a secureContext.
        { method: req.method, headers, timeout: options.timeoutMs, agent: false, ...(https ? secure : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => fail(e.message));
        },
      );
      // `timeout` only covers idle sockets; this bounds the whole exchange.
      const timer = setTimeout(() => r.destroy(new Error(`no answer within ${options.timeoutMs / 1000} s`)), options.timeoutMs);
      r.on('close', () => clearTimeout(timer));
      r.on('timeout', () => r.destroy(new Error(`no answer within ${options.timeoutMs / 1000} s`)));
      if (https) r.once('socket', (socket) => socket.once('secureConnect', () => (handshakeDone = true)));
      r.on('error', (e: NodeJS.ErrnoException) => fail((https ? tlsFailureHint(e, { tls, host: target.host, handshakeDone }) : null) ?? e.message));
      r.end(payload);
    });
  };
}
