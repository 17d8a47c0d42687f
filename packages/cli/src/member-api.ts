/**
 * Calls to a member's REST API (Patroni's endpoints), with Basic auth and a deadline. The URL is
 * the member's `api_url` with its last path segment replaced by the endpoint, as patronictl
 * builds it (`http://host:8008/patroni` → `http://host:8008/restart`).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Member } from '@pgha/dcs';
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
  insecure: boolean;
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

export function createApiClient(options: ApiClientOptions): ApiClient {
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
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const r = send(
        target,
        { method: req.method, headers, timeout: options.timeoutMs, ...(target.protocol === 'https:' ? { rejectUnauthorized: !options.insecure } : {}) },
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
      r.on('error', (e: NodeJS.ErrnoException) => fail(e.message));
      r.end(payload);
    });
  };
}
