/**
 * Builds the REST API from the `restapi` section and connects it to the HA loop, the cluster
 * store and the controller's last state. The API only reads published snapshots and records
 * intents; this file is where its ports meet the real parts.
 */
import { readFileSync } from 'node:fs';
import type { ClusterStore } from '@pgha/dcs';
import { createDecisionLog, DEFAULT_DECISIONS_HISTORY, type Clock, type CycleReport, type HaLoop } from '@pgha/ha-engine';
import type { PostgresState } from '@pgha/postgres-controller';
import { createApiMetrics, createApiServer, type ApiLogger, type ApiMetrics, type ApiServer, type ApiSettings, type ApiSnapshot, type ApiTls, type CycleSummary, type LoopPort, type SalvageEntry } from '@pgha/rest-api';
import { buildApiSnapshot, type Identity } from './api-snapshot.js';
import type { RestapiSection } from './config/schema.js';

export interface ApiWiringOptions {
  restapi: RestapiSection;
  /** Where to listen (`restapi.listen`, split). */
  listen: { host: string; port: number };
  loop: HaLoop;
  store: ClusterStore;
  postgres: { lastState(): PostgresState | null; salvageReports?(): readonly SalvageEntry[] };
  identity: Identity;
  clock: Clock;
  logger: ApiLogger;
  /** POST /reload: the agent's SIGHUP handling. */
  reload(): Promise<void>;
  /** Shared with `instrumentStore` so DCS latency shows in /metrics. */
  metrics: ApiMetrics;
  /** Adds what other parts know to each published snapshot (the watchdog's `watchdog_failed`). */
  decorate?: (snapshot: ApiSnapshot) => ApiSnapshot;
  /** `postgresql.allow_dcs_commands`: PATCH / PUT /config may set commands PostgreSQL runs. */
  allowDcsCommands?: boolean;
}

export interface WiredApi {
  server: ApiServer;
  /** Publishes the current state (after every cycle). */
  publish(): void;
}

/** Reads `certfile`, `keyfile`, `cafile`; an unreadable file is a startup error naming the key. */
function readTls(restapi: RestapiSection): ApiTls | undefined {
  if (!restapi.certfile) return undefined;
  const read = (key: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`restapi.${key}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  };
  const cert = read('certfile', restapi.certfile);
  return {
    cert,
    // Patroni accepts a certfile holding the key too.
    key: restapi.keyfile ? read('keyfile', restapi.keyfile) : cert,
    ...(restapi.keyfile_password !== undefined ? { passphrase: restapi.keyfile_password } : {}),
    ...(restapi.cafile ? { ca: read('cafile', restapi.cafile) } : {}),
    ...(restapi.ciphers ? { ciphers: restapi.ciphers } : {}),
    ...(restapi.verify_client ? { verifyClient: restapi.verify_client } : {}),
  };
}

/**
 * The settings of the running server a reload may change, from the `restapi` section and where
 * to listen. Reads the certificate files now: an unreadable one throws, naming the key, before
 * anything is changed.
 */
export function apiSettings(restapi: RestapiSection, listen: { host: string; port: number }): ApiSettings {
  const tls = readTls(restapi);
  return {
    host: listen.host,
    port: listen.port,
    ...(restapi.authentication ? { authentication: { username: restapi.authentication.username, password: restapi.authentication.password } } : {}),
    ...(restapi.allowlist ? { allowlist: restapi.allowlist } : {}),
    ...(restapi.allowlist_include_members ? { allowlistIncludeMembers: true } : {}),
    ...(restapi.http_extra_headers ? { httpExtraHeaders: restapi.http_extra_headers } : {}),
    ...(restapi.https_extra_headers ? { httpsExtraHeaders: restapi.https_extra_headers } : {}),
    ...(restapi.server_tokens ? { serverTokens: restapi.server_tokens } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** The HA loop as the API's LoopPort sees it. */
function loopPort(loop: HaLoop, clock: Clock): LoopPort {
  let lastToken = -Infinity;
  const summary = (report: CycleReport): CycleSummary => {
    const running = loop.status().running;
    const last = report.snapshot.lastAction;
    const intents = report.snapshot.intents;
    return {
      reason: report.reason,
      actions: report.actions,
      running: running ? { kind: running.kind, label: running.label } : null,
      lastAction: last ? { kind: last.kind, ok: last.ok, startedAt: last.startedAt, ...(last.error ? { error: last.error } : {}) } : null,
      saw: {
        ...(intents.restart ? { restart: intents.restart.requestedAt } : {}),
        ...(intents.reinitialize ? { reinitialize: intents.reinitialize.requestedAt } : {}),
      },
    };
  };
  return {
    request(kind: 'restart' | 'reinitialize', fromLeader?: boolean) {
      // The token is the request's time, made unique: two requests in one millisecond stay apart.
      const requestedAt = Math.max(clock.now(), lastToken + 1e-3);
      lastToken = requestedAt;
      if (kind === 'restart') loop.request('restart', { requestedAt });
      else loop.request('reinitialize', { requestedAt, fromLeader: fromLeader === true });
      return requestedAt;
    },
    pending: (kind) => loop.intents()[kind] !== undefined,
    // The engine decides when it is due and whether it runs; the member key shows it meanwhile.
    schedule: (restart) => loop.request('scheduledRestart', restart),
    scheduled: () => loop.intents().scheduledRestart ?? null,
    unschedule: () => loop.withdraw('scheduledRestart'),
    running: () => {
      const r = loop.status().running;
      return r ? { kind: r.kind, label: r.label } : null;
    },
    onCycle: (listener) => loop.onCycle((report) => listener(summary(report))),
  } as LoopPort;
}

/** Every method of the store (own or inherited), to wrap them one by one. */
function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) names.add(key);
  }
  return [...names].filter((k) => k !== 'constructor' && typeof (obj as Record<string, unknown>)[k] === 'function');
}

/** A store whose promise-returning calls are timed into `metrics` (the loop's DCS latency). */
export function instrumentStore(store: ClusterStore, metrics: ApiMetrics, clock: Clock): ClusterStore {
  // A derived object rather than a Proxy: the store may carry read-only own properties.
  const timed = Object.create(store) as Record<string, unknown>;
  for (const key of methodNames(store)) {
    if (key === 'watch' || key === 'hold' || key === 'close') continue;
    const method = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[key]!;
    Object.defineProperty(timed, key, {
      value: (...args: unknown[]) => {
        const started = clock.now();
        const result = method.apply(store, args);
        if (!(result instanceof Promise)) return result;
        return result.then(
          (v: unknown) => {
            metrics.observeDcsCall(clock.now() - started, true);
            return v;
          },
          (e: unknown) => {
            metrics.observeDcsCall(clock.now() - started, false);
            throw e;
          },
        );
      },
    });
  }
  return timed as unknown as ClusterStore;
}

export function wireApi(o: ApiWiringOptions): WiredApi {
  const { restapi, loop, store, clock } = o;
  // GET /decisions: the last cycles, bounded by `restapi.decisions_history` (read at start).
  const decisions = createDecisionLog(restapi.decisions_history ?? DEFAULT_DECISIONS_HISTORY);
  const server = createApiServer({
    ...apiSettings(restapi, o.listen),
    decisions,
    version: o.identity.pghaVersion,
    allowDcsCommands: o.allowDcsCommands === true,
    now: () => clock.now(),
    logger: o.logger,
    metrics: o.metrics,
    failsafe: (request) => loop.failsafePing(request),
    management: {
      loadCluster: () => store.loadCluster(),
      setFailover: (f) => store.setFailover(f),
      clearFailover: (version) => store.clearFailover(version),
      setConfig: (config, version) => store.setConfig(config, version),
      wakeup: () => loop.wakeup(),
      waitForChange: (ms) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms);
          const stop = store.watch(done);
          function done() {
            clearTimeout(timer);
            stop();
            resolve();
          }
        }),
      now: () => clock.now(),
      wallNow: () => new Date(clock.wallNow()),
      loopWait: () => loop.status().config.loopWait,
    },
    local: {
      loop: loopPort(loop, clock),
      reload: () => o.reload(),
      now: () => clock.now(),
      wallNow: () => new Date(clock.wallNow()),
      loopWait: () => loop.status().config.loopWait,
      warn: (message) => o.logger.warn(message),
    },
  });
  let lastLeader: string | null = null;
  const decorate = o.decorate ?? ((snapshot: ApiSnapshot) => snapshot);
  const publish = () => server.publish(decorate(buildApiSnapshot(loop.status(), o.postgres.lastState(), o.identity, clock.now(), o.postgres.salvageReports?.() ?? [])));
  loop.onCycle((report) => {
    decisions.record(report.snapshot, report.decision, { reason: report.reason, code: report.code, actions: report.actions });
    o.metrics.countDecision(report.code);
    o.metrics.lockRenewedAt(loop.status().lastLockRenewalAt);
    o.metrics.observeCycle(clock.now() - report.snapshot.now);
    const leader = loop.status().leader;
    if (leader !== null && lastLeader !== null && leader !== lastLeader) o.metrics.leaderChanged(clock.wallNow());
    if (leader !== null) lastLeader = leader;
  });
  return { server, publish };
}

export { createApiMetrics };
