/**
 * The HTTP server: Patroni's routes on `node:http` with keep-alive. Health checks and GET
 * /patroni answer from the snapshot the agent publishes after each cycle, with the JSON body
 * serialised once per publish, so a load balancer polling many times a second costs almost
 * nothing. Management calls (switchover, failover) are authenticated and record intents.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { healthStatus } from './health.js';
import type { ApiSnapshot } from './state.js';
import { requestManualFailover, type ApiAnswer, type SwitchoverPorts } from './switchover.js';

export interface ApiLogger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

export interface ApiServerOptions {
  /** `restapi.listen`: host and port. */
  host: string;
  port: number;
  /** `restapi.authentication`: Basic auth required on unsafe methods. */
  authentication?: { username: string; password: string };
  /** Ports the management endpoints use. */
  management: SwitchoverPorts;
  /** Monotonic milliseconds (for /liveness). */
  now(): number;
  logger: ApiLogger;
  /** Largest request body accepted, bytes (default 64 KiB). */
  maxBodyBytes?: number;
}

export interface ApiServer {
  /** Makes `snapshot` the state every following request is answered from. */
  publish(snapshot: ApiSnapshot): void;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly server: Server;
}

interface Published {
  snapshot: ApiSnapshot;
  body: string;
}

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/html';

export function createApiServer(options: ApiServerOptions): ApiServer {
  let published: Published | null = null;
  const maxBody = options.maxBodyBytes ?? 64 * 1024;

  const send = (res: ServerResponse, status: number, body: string, type: string, withBody: boolean) => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': withBody ? Buffer.byteLength(body) : 0 });
    res.end(withBody ? body : undefined);
  };

  const authorised = (req: IncomingMessage, res: ServerResponse): boolean => {
    const auth = options.authentication;
    if (!auth) return true;
    const header = req.headers.authorization;
    const fail = (text: string) => {
      res.writeHead(401, { 'Content-Type': TEXT_TYPE, 'WWW-Authenticate': 'Basic realm="Patroni"', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return false;
    };
    if (!header) return fail('no auth header received');
    const expected = Buffer.from(`Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`);
    const given = Buffer.from(header);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return fail('not authenticated');
    return true;
  };

  const readJsonBody = async (req: IncomingMessage): Promise<{ body: Record<string, unknown> } | { answer: ApiAnswer }> => {
    const length = req.headers['content-length'];
    if (length === undefined && req.headers['transfer-encoding'] === undefined) return { answer: { status: 411, text: 'Length Required' } };
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBody) return { answer: { status: 413, text: `request body larger than ${maxBody} bytes` } };
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return { body: {} };
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return { answer: { status: 400, text: 'request body must be a JSON object' } };
      return { body: value as Record<string, unknown> };
    } catch {
      return { answer: { status: 400, text: 'Bad Request: request body is not valid JSON' } };
    }
  };

  const handleGet = (res: ServerResponse, path: string, query: URLSearchParams, withBody: boolean) => {
    if (!published) {
      send(res, 503, JSON.stringify({ state: 'starting', role: 'uninitialized' }), JSON_TYPE, withBody);
      return;
    }
    const { snapshot, body } = published;
    if (path === '/patroni') return send(res, 200, body, JSON_TYPE, withBody);
    const health = healthStatus(path, query, snapshot, options.now());
    if (health !== null) return send(res, health, path === '/liveness' ? '' : body, JSON_TYPE, withBody && path !== '/liveness');
    if (path === '/config') {
      const config = snapshot.cluster?.config?.value;
      return config ? send(res, 200, JSON.stringify(config), JSON_TYPE, withBody) : send(res, 502, '', TEXT_TYPE, withBody);
    }
    if (path === '/history') {
      const rows = (snapshot.cluster?.history?.value ?? []).map((h) => [h.timeline, h.lsn, h.reason, h.timestamp ?? null, h.new_leader ?? null]);
      return send(res, 200, JSON.stringify(rows), JSON_TYPE, withBody);
    }
    send(res, 404, 'Not Found', TEXT_TYPE, withBody);
  };

  const handlePost = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (path !== '/switchover' && path !== '/failover') return send(res, 404, 'Not Found', TEXT_TYPE, true);
    if (!authorised(req, res)) return;
    const read = await readJsonBody(req);
    if ('answer' in read) return send(res, read.answer.status, read.answer.text, TEXT_TYPE, true);
    const answer = await requestManualFailover(options.management, path === '/switchover' ? 'switchover' : 'failover', read.body);
    options.logger.info({ path, status: answer.status, answer: answer.text }, 'API management request');
    send(res, answer.status, answer.text, TEXT_TYPE, true);
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    switch (req.method) {
      case 'GET':
        return handleGet(res, path, query, true);
      case 'HEAD':
      case 'OPTIONS':
        return handleGet(res, path, query, false);
      case 'POST':
        handlePost(req, res, path).catch((e: unknown) => {
          options.logger.warn({ err: e, path }, 'API request failed');
          if (!res.headersSent) send(res, 500, 'Internal Server Error', TEXT_TYPE, true);
        });
        return;
      default:
        send(res, 501, 'Not Implemented', TEXT_TYPE, true);
    }
  });
  // Load balancers keep connections open and poll; keep idle sockets longer than their interval.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  return {
    server,
    publish(snapshot) {
      published = { snapshot, body: JSON.stringify(snapshot.status) };
    },
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
