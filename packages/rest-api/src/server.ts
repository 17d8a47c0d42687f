/**
 * The HTTP(S) server: Patroni's routes on `node:http` / `node:https` with keep-alive. Health
 * checks, GET /patroni, /cluster and /metrics answer from the snapshot the agent publishes after
 * each cycle, with bodies serialised once per publish, so a load balancer polling many times a
 * second costs almost nothing and never reaches the DCS or PostgreSQL. Management calls go
 * through access control, a size limit and a rate limit, then record intents (see
 * switchover.ts, config-endpoint.ts, local-actions.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { configFlag, type Logger } from '@pgha/dcs';
import type { FailsafeAnswer, FailsafeRequest } from '@pgha/ha-engine';
import { normaliseAddress, type AccessOptions } from './access.js';
import { createAccessPolicy, OPEN_API_WARNING, type AccessPolicy } from './access-policy.js';
import { createAuthFailures } from './auth-failures.js';
import { CONNECTION_LIMITS, createConnectionLimits, type ConnectionLimitOptions } from './connection-limits.js';
import { clusterView } from './cluster-view.js';
import { configAnswer, patchClusterConfig, putClusterConfig, type ConfigPorts } from './config-endpoint.js';
import { healthStatus } from './health.js';
import { createListener, type ApiHttpServer, type ApiTls, type ListenerChange } from './listener.js';
import { type MemberHostsOptions } from './member-hosts.js';
import { createBodyReader } from './request-body.js';
import { acceptFailsafe } from './failsafe-endpoint.js';
import { decisionsAnswer, type DecisionsPort } from './decisions-endpoint.js';
import { responseHeaders, type ServerTokens } from './response-headers.js';
import { createLocalActions, type LocalActionPorts, type LocalActions } from './local-actions.js';
import { metricLabels, renderPatroniMetrics, renderReceiverMetrics, type ApiMetrics } from './metrics.js';
import { createRateLimiter } from './rate-limit.js';
import { contentTypeRefusal, crossSiteRefusal } from './request-guard.js';
import type { ApiSnapshot } from './state.js';
import { requestManualFailover, type ApiAnswer, type SwitchoverPorts } from './switchover.js';

/** The levels the API logs at, of the shared Logger. */
export type ApiLogger = Pick<Logger, 'info' | 'warn' | 'debug'>;

/** The DCS side of the management endpoints. */
export interface ManagementPorts extends SwitchoverPorts, Omit<ConfigPorts, 'loadCluster' | 'wakeup'> {
  /** Deletes the `failover` key if it is still at `expectVersion`; false when the CAS failed. */
  clearFailover(expectVersion?: string): Promise<boolean>;
}

export type { ApiTls } from './listener.js';
export { SERVER_TOKENS, serverHeader, type ServerTokens } from './response-headers.js';
export { acceptFailsafe } from './failsafe-endpoint.js';
export { OPEN_API_WARNING } from './access-policy.js';

/** The parts of `restapi` a reload (SIGHUP, POST /reload) may change on a running server. */
export interface ApiSettings {
  /** `restapi.listen`: host and port. */
  host: string;
  port: number;
  /** `restapi.authentication`: Basic auth required on unsafe methods. */
  authentication?: { username: string; password: string };
  /** `restapi.allowlist` / `allowlist_include_members`. */
  allowlist?: string[];
  allowlistIncludeMembers?: boolean;
  /** TLS; plain HTTP when absent. */
  tls?: ApiTls;
  /** `restapi.http_extra_headers` (every response) and `https_extra_headers` (every response over TLS). */
  httpExtraHeaders?: Record<string, string>;
  httpsExtraHeaders?: Record<string, string>;
  /** `restapi.server_tokens` (default `original`): the `Server` header, see serverHeader(). */
  serverTokens?: ServerTokens;
}

export interface ApiServerOptions extends ApiSettings {
  /** pgha's version, for `server_tokens: minimal`. */
  version?: string;
  /** Ports the DCS management endpoints use. */
  management: ManagementPorts;
  /**
   * `postgresql.allow_dcs_commands` of this member's YAML (default false): PATCH / PUT /config may
   * introduce or change commands PostgreSQL runs (`archive_command`, ...). Off, they answer 400.
   */
  allowDcsCommands?: boolean;
  /** Ports the local management endpoints (restart, reinitialize, reload) use; 503 when absent. */
  local?: Omit<LocalActionPorts, 'onScheduleChange'>;
  /**
   * POST /failsafe: hands a primary's failsafe ping to the local HA loop (its `failsafePing`).
   * Absent: 502, as with failsafe mode off.
   */
  failsafe?: (request: FailsafeRequest) => FailsafeAnswer;
  /** pgha's own metrics appended to /metrics. */
  metrics?: ApiMetrics;
  /** GET /decisions: the agent's decision log; 404 when absent. */
  decisions?: DecisionsPort;
  /** Monotonic milliseconds (for /liveness). */
  now(): number;
  logger: ApiLogger;
  /** Largest request body accepted, bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /** Unsafe requests allowed per second, with a burst (default 10/s, burst 20). */
  unsafeRate?: { perSecond: number; burst: number };
  /** Unsafe requests processed at once, once their bodies are read (default 4); more are refused with 503. */
  maxConcurrentUnsafe?: number;
  /** Connections in all and per source, bodies read at once per source (connection-limits.ts). */
  connectionLimits?: Partial<ConnectionLimitOptions>;
  /** Time a client has to send a request body once its headers arrived (default 10 s); then 408. */
  bodyTimeoutMs?: number;
  /** Failed Basic-auth attempts a source may make per window before it is refused with 429 (default 10 per 60 s). */
  authFailures?: { limit: number; windowMs: number };
  /** Resolves host names of the allowlist and of member keys (default: node's DNS lookup). */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Deadlines, refresh intervals and bounds of member host name lookups (member-hosts.ts). */
  memberHosts?: Pick<MemberHostsOptions, 'timeoutMs' | 'refreshMs' | 'retryMs' | 'maxNames' | 'maxParallel'>;
}

export interface ApiServer {
  /** Makes `snapshot` the state every following request is answered from. */
  publish(snapshot: ApiSnapshot): void;
  listen(): Promise<AddressInfo>;
  /**
   * Applies reloaded settings without a restart: access rules and headers at once, TLS to the
   * next handshakes, a new address by opening it before closing the old one. Rejects, changing
   * nothing, when the new address cannot be listened on.
   */
  reconfigure(settings: ApiSettings): Promise<ListenerChange>;
  close(): Promise<void>;
  /** The server now answering (a reload that changes the address replaces it). */
  readonly server: ApiHttpServer;
}

interface Published {
  /** As the agent published it. */
  original: ApiSnapshot;
  /** With the API's own state (a scheduled restart) merged in. */
  snapshot: ApiSnapshot;
  body: string;
  length: number;
  metrics: string | null;
  cluster: string | null;
}

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/html';
const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const STARTING = JSON.stringify({ state: 'starting', role: 'uninitialized' });
const AUTH_FAILURES = { limit: 10, windowMs: 60_000 };
/** Sources whose failed attempts are remembered at once (the oldest is forgotten first). */
const AUTH_FAILURE_SOURCES = 1024;

function accessOptions(settings: ApiSettings): AccessOptions {
  return {
    ...(settings.authentication ? { authentication: settings.authentication } : {}),
    ...(settings.allowlist ? { allowlist: settings.allowlist } : {}),
    ...(settings.allowlistIncludeMembers ? { allowlistIncludeMembers: true } : {}),
    ...(settings.tls?.verifyClient ? { verifyClient: settings.tls.verifyClient } : {}),
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>, snapshot: ApiSnapshot | null) => Promise<ApiAnswer> | ApiAnswer;

export function createApiServer(options: ApiServerOptions): ApiServer {
  let published: Published | null = null;
  const version = options.version ?? '0.0.0';
  let settings: ApiSettings = options;
  let extraHeaders = responseHeaders(settings, version);
  let hasExtra = Object.keys(extraHeaders).length > 0;
  const resolveHost =
    options.resolveHost ??
    (async (host: string) => {
      const { lookup } = await import('node:dns/promises');
      return (await lookup(host, { all: true })).map((a) => a.address);
    });
  const makePolicy = (s: ApiSettings): AccessPolicy =>
    createAccessPolicy(accessOptions(s), {
      lookup: resolveHost,
      now: () => options.now(),
      warn: (m) => options.logger.warn(m),
      info: (m) => options.logger.info(m),
      ...(options.memberHosts ? { names: options.memberHosts } : {}),
    });
  // Replaced whole by a reload; Patroni's default (open to anyone) is said at start and in GET /patroni.
  let policy = makePolicy(settings);
  const authLimit = options.authFailures ?? AUTH_FAILURES;
  const authFailures = createAuthFailures({ ...authLimit, maxSources: AUTH_FAILURE_SOURCES }, options.now);
  const limiter = createRateLimiter(options.unsafeRate ?? { perSecond: 10, burst: 20 }, options.now);
  const maxConcurrent = options.maxConcurrentUnsafe ?? 4;
  let inFlight = 0;
  // Refusals come in floods: say so once per 10 s with a count, not once per connection.
  let refusedSinceLog = 0;
  let lastRefusalLog = -Infinity;
  const limits = createConnectionLimits({ ...CONNECTION_LIMITS, ...options.connectionLimits }, (source, why) => {
    refusedSinceLog++;
    const t = options.now();
    if (t - lastRefusalLog < 10_000) return;
    options.logger.warn({ source, refused: refusedSinceLog }, `REST API: refusing connections (${why})`);
    lastRefusalLog = t;
    refusedSinceLog = 0;
  });

  const republish = () => {
    if (published) api.publish(published.original);
  };
  const local: LocalActions | null = options.local
    ? createLocalActions(
        {
          ...options.local,
          onScheduleChange: republish,
        },
      )
    : null;

  const send = (res: ServerResponse, status: number, body: string, type: string, withBody: boolean, headers?: Record<string, string>) => {
    options.metrics?.countRequest();
    const h: Record<string, string | number> = { 'Content-Type': type, 'Content-Length': withBody ? Buffer.byteLength(body) : 0 };
    if (hasExtra) Object.assign(h, extraHeaders);
    if (headers) Object.assign(h, headers);
    res.writeHead(status, h);
    res.end(withBody ? body : undefined);
  };

  const sendAnswer = (res: ServerResponse, a: ApiAnswer | { status: number; text: string; headers?: Record<string, string>; type?: string }) =>
    send(res, a.status, a.text, a.type ?? TEXT_TYPE, true, 'headers' in a ? a.headers : undefined);

  const readJsonBody = createBodyReader({ maxBytes: options.maxBodyBytes ?? 64 * 1024, timeoutMs: options.bodyTimeoutMs ?? 10_000 });

  const cachedMetrics = (p: Published): string => {
    p.metrics ??= `${renderPatroniMetrics(p.snapshot)}\n${renderReceiverMetrics(p.snapshot)}`;
    const own = options.metrics ? `\n${options.metrics.render(metricLabels(p.snapshot))}` : '';
    return `${p.metrics}${own}\n`;
  };

  const handleGet = (res: ServerResponse, path: string, query: string, withBody: boolean) => {
    const p = published;
    if (!p) return send(res, 503, STARTING, JSON_TYPE, withBody);
    // The hot path: a load balancer's check without a query string.
    const health = healthStatus(path, new URLSearchParams(query), p.snapshot, options.now());
    if (health !== null) {
      if (path === '/liveness') return send(res, health, '', JSON_TYPE, false);
      options.metrics?.countRequest();
      const h: Record<string, string | number> = { 'Content-Type': JSON_TYPE, 'Content-Length': withBody ? p.length : 0 };
      if (hasExtra) Object.assign(h, extraHeaders);
      res.writeHead(health, h);
      res.end(withBody ? p.body : undefined);
      return;
    }
    const snapshot = p.snapshot;
    switch (path) {
      case '/patroni':
        return send(res, 200, p.body, JSON_TYPE, withBody);
      case '/cluster':
        if (!snapshot.cluster) return send(res, 503, 'DCS is not accessible', TEXT_TYPE, withBody);
        p.cluster ??= JSON.stringify(clusterView(snapshot.cluster, snapshot.status.patroni.scope));
        return send(res, 200, p.cluster, JSON_TYPE, withBody);
      case '/config': {
        const a = configAnswer(snapshot);
        return send(res, a.status, a.text, a.type === 'application/json' ? JSON_TYPE : TEXT_TYPE, withBody, a.headers);
      }
      case '/history': {
        // Patroni's five columns; a line whose timeline this member lost data from when it was
        // rewound gets the salvage report as a sixth (patronictl reads the DCS, not this).
        const rows = (snapshot.cluster?.history?.value ?? []).map((h) => {
          const row: unknown[] = [h.timeline, h.lsn, h.reason, h.timestamp ?? null, h.new_leader ?? null];
          const lost = snapshot.salvage?.filter((r) => r.timeline === h.timeline) ?? [];
          if (lost.length > 0) row.push({ salvage: lost });
          return row;
        });
        return send(res, 200, JSON.stringify(rows), JSON_TYPE, withBody);
      }
      case '/failsafe':
        return snapshot.cluster && configFlag(snapshot.cluster.config?.value, 'failsafe_mode')
          ? send(res, 200, JSON.stringify(snapshot.cluster.failsafe?.value ?? {}), JSON_TYPE, withBody)
          : send(res, 502, 'Failsafe mode is not enabled', TEXT_TYPE, withBody);
      case '/metrics':
        return send(res, 200, cachedMetrics(p), METRICS_TYPE, withBody);
      case '/decisions': {
        const a = decisionsAnswer(options.decisions, snapshot.status.patroni.name, new URLSearchParams(query));
        return send(res, a.status, a.text, a.json ? JSON_TYPE : TEXT_TYPE, withBody);
      }
      default:
        return send(res, 404, 'Not Found', TEXT_TYPE, withBody);
    }
  };

  const localOr503 = (f: (l: LocalActions) => Promise<ApiAnswer> | ApiAnswer): Promise<ApiAnswer> | ApiAnswer =>
    local ? f(local) : { status: 503, text: 'local management is not available' };
  const needSnapshot = (s: ApiSnapshot | null, f: (s: ApiSnapshot) => Promise<ApiAnswer> | ApiAnswer): Promise<ApiAnswer> | ApiAnswer =>
    s ? f(s) : { status: 503, text: 'the HA loop has not completed a cycle yet' };

  const writeRules = { allowDcsCommands: options.allowDcsCommands === true };
  const configPorts: ConfigPorts = {
    loadCluster: () => options.management.loadCluster(),
    setConfig: (c, v) => options.management.setConfig(c, v),
    wakeup: () => options.management.wakeup(),
  };

  /** method → path → handler for every unsafe endpoint. */
  const unsafe: Record<string, Record<string, Handler>> = {
    POST: {
      '/switchover': (_q, _r, body) => requestManualFailover(options.management, 'switchover', body),
      '/failover': (_q, _r, body) => requestManualFailover(options.management, 'failover', body),
      '/restart': (_q, _r, body, s) => localOr503((l) => needSnapshot(s, (snap) => l.restart(body, snap))),
      '/reinitialize': (_q, _r, body, s) => localOr503((l) => needSnapshot(s, (snap) => l.reinitialize(body, snap))),
      '/reload': () => localOr503((l) => l.reload()),
      '/failsafe': (req, _r, body) => acceptFailsafe(options.failsafe, body, req.socket.remoteAddress),
    },
    PATCH: {
      '/config': (_q, _r, body) => patchClusterConfig(configPorts, body, writeRules),
    },
    PUT: {
      '/config': (_q, _r, body) => putClusterConfig(configPorts, body, writeRules),
    },
    DELETE: {
      '/restart': () => localOr503((l) => l.deleteScheduledRestart()),
      '/switchover': async () => {
        let cluster;
        try {
          cluster = await options.management.loadCluster();
        } catch (e) {
          return { status: 503, text: `DCS is not accessible: ${(e as Error).message}` };
        }
        const failover = cluster.failover;
        if (!failover?.value.scheduled_at) return { status: 404, text: 'no switchover is scheduled' };
        const cleared = await options.management.clearFailover(failover.version).catch(() => false);
        return cleared ? { status: 200, text: 'scheduled switchover deleted' } : { status: 409, text: 'Could not delete scheduled switchover' };
      },
    },
  };

  const handleUnsafe = async (req: IncomingMessage, res: ServerResponse, handler: Handler, path: string) => {
    const socket = req.socket as Partial<TLSSocket>;
    const peer = {
      address: req.socket.remoteAddress ?? '',
      authorized: socket.authorized === true,
      hasCertificate: typeof socket.getPeerCertificate === 'function' && Object.keys(socket.getPeerCertificate() ?? {}).length > 0,
    };
    const refused = crossSiteRefusal(req.headers) ?? contentTypeRefusal(req.headers);
    if (refused) {
      req.resume();
      options.logger.warn({ source: peer.address, method: req.method, path, status: refused.status }, `REST API request refused: ${refused.text}`);
      return sendAnswer(res, refused);
    }
    const source = normaliseAddress(peer.address);
    if (authFailures.blocked(source)) {
      req.resume();
      return sendAnswer(res, { status: 429, text: 'Too Many Requests: too many failed authentication attempts', headers: { 'Retry-After': String(Math.ceil(authLimit.windowMs / 1000)) } });
    }
    const cluster = published?.snapshot.cluster ?? null;
    const checking = policy;
    const denial = await checking.check(peer, req.headers.authorization, cluster);
    if (denial) {
      req.resume();
      if (denial.status === 401 && req.headers.authorization !== undefined) {
        options.logger.warn({ source, method: req.method, path }, 'REST API: failed authentication');
        if (authFailures.fail(source)) {
          options.logger.warn({ source }, `REST API: ${authLimit.limit} failed authentication attempts from ${source}; refusing it for ${authLimit.windowMs / 1000} s`);
        }
      }
      return sendAnswer(res, denial);
    }
    if (checking.options.authentication) authFailures.succeed(source);
    if (!limiter.take(source)) {
      req.resume();
      return sendAnswer(res, { status: 429, text: 'Too Many Requests', headers: { 'Retry-After': '1' } });
    }
    // The body is read before a processing slot is taken, with a deadline and at most a few at
    // once per source: clients that send theirs a byte at a time hold their own connections,
    // not the slots an operator's call needs.
    const bodyDone = limits.startBody(source);
    if (!bodyDone) {
      req.resume();
      res.setHeader('Connection', 'close');
      return sendAnswer(res, { status: 503, text: `too many request bodies in progress from ${source}`, headers: { 'Retry-After': '1' } });
    }
    let read: Awaited<ReturnType<typeof readJsonBody>>;
    try {
      // DELETE and POST /reload take no body (Patroni does not read one there).
      read = req.method === 'DELETE' || path === '/reload' ? (req.resume(), { body: {} }) : await readJsonBody(req);
    } finally {
      bodyDone();
    }
    if ('answer' in read) {
      // Closing stops a client that keeps streaming (or dripping) a body we will not read.
      res.setHeader('Connection', 'close');
      if (read.answer.status === 408) res.once('finish', () => req.destroy());
      return sendAnswer(res, read.answer);
    }
    if (inFlight >= maxConcurrent) {
      return sendAnswer(res, { status: 503, text: 'too many management requests in progress', headers: { 'Retry-After': '1' } });
    }
    inFlight++;
    try {
      const answer = await handler(req, res, read.body, published?.snapshot ?? null);
      options.logger.info({ method: req.method, path, status: answer.status, answer: answer.type === JSON_TYPE ? undefined : answer.text }, 'API management request');
      sendAnswer(res, answer);
    } finally {
      inFlight--;
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const query = q === -1 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return safeGet(res, path, query, method === 'GET');
    const handler = unsafe[method]?.[path];
    if (!handler) {
      req.resume();
      const known = Object.values(unsafe).some((m) => path in m);
      return send(res, known ? 501 : 404, known ? 'Unsupported method' : 'Not Found', TEXT_TYPE, true);
    }
    handleUnsafe(req, res, handler, path).catch((e: unknown) => failed(res, path, e));
  };

  /**
   * Nothing a request does may end the process: a GET throws synchronously inside the 'request'
   * listener (an uncaught exception), an unsafe handler rejects (an unhandled rejection). Either
   * becomes a 500, or a closed socket if even that cannot be sent.
   */
  const failed = (res: ServerResponse, path: string, e: unknown) => {
    options.logger.warn({ err: e, path }, 'API request failed');
    try {
      if (!res.headersSent) send(res, 500, 'Internal Server Error', TEXT_TYPE, true);
      else res.destroy();
    } catch {
      res.destroy();
    }
  };
  const safeGet = (res: ServerResponse, path: string, query: string, withBody: boolean) => {
    try {
      handleGet(res, path, query, withBody);
    } catch (e) {
      failed(res, path, e);
    }
  };

  const listener = createListener({ host: options.host, port: options.port }, options.tls, onRequest, (socket: Socket) => limits.admit(socket, normaliseAddress(socket.remoteAddress ?? '')));

  const api: ApiServer = {
    get server() {
      return listener.server;
    },
    publish(snapshot) {
      const scheduled = local?.scheduled();
      const status = scheduled ? { ...snapshot.status, scheduled_restart: scheduled } : snapshot.status;
      const body = JSON.stringify(policy.openToAnyone ? { ...status, warnings: [OPEN_API_WARNING] } : status);
      published = { original: snapshot, snapshot: scheduled ? { ...snapshot, status } : snapshot, body, length: Buffer.byteLength(body), metrics: null, cluster: null };
      // New members are looked up now, stale names again; nothing waits for it here.
      void policy.track(snapshot.cluster);
    },
    async listen() {
      if (policy.openToAnyone) options.logger.warn(`SECURITY: ${OPEN_API_WARNING}`);
      await policy.track(published?.snapshot.cluster ?? null);
      return listener.listen();
    },
    async reconfigure(next) {
      const change = await listener.change({ host: next.host, port: next.port }, next.tls);
      const wasOpen = policy.openToAnyone;
      settings = next;
      extraHeaders = responseHeaders(settings, version);
      hasExtra = Object.keys(extraHeaders).length > 0;
      policy = makePolicy(settings);
      if (policy.openToAnyone && !wasOpen) options.logger.warn(`SECURITY: ${OPEN_API_WARNING}`);
      republish();
      await policy.track(published?.snapshot.cluster ?? null);
      return change;
    },
    async close() {
      await listener.close();
    },
  };
  return api;
}
