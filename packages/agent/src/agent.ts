/**
 * The agent: reads the configuration, builds every part and wires them together. No HA logic
 * lives here: the engine decides, the controller and the DCS driver act, the API reports.
 */
import { createClusterStore, loadDriver, type ClusterStore, type DcsDriver } from '@pgha/dcs';
import { allowedDynamicPostgresql, createHaLoop, createHttpPeerProbe, DEFAULT_PATRONI_DIALECT, engineTiming, nodeClock, restClientTls, type HaLoop, type MemberIdentity, type PeerFetch, type RestClientTls } from '@pgha/ha-engine';
import { createPostgresController, type DynamicPostgresql, type PostgresController } from '@pgha/postgres-controller';
import type { ApiServer } from '@pgha/rest-api';
import type { Logger as PinoLogger } from 'pino';
import { createPeerHttp } from './adapters/peer-http.js';
import { adaptPostgresController } from './adapters/postgres-port.js';
import type { Identity } from './api-snapshot.js';
import { apiSettings, createApiMetrics, instrumentStore, wireApi } from './api-wiring.js';
import { applyEnvironment, configurationFromEnvironment } from './config/environment.js';
export { takeEnvironment } from './config/environment.js';
import { parseConfigText, readConfigSource } from './config/source.js';
import { validateAgentConfig, type AgentConfig } from './config/schema.js';
import { createDynamicConfigApplier } from './dynamic-config.js';
import { createLogging, type Logging } from './logging/index.js';
import { ensureUniqueName } from './unique-name.js';
import { buildWatchdog } from './watchdog-wiring.js';
import { parseWatchdogConfig } from '@pgha/watchdog';
import { PATRONI_COMPATIBLE_VERSION, PGHA_VERSION } from './version.js';

type Tree = Record<string, unknown>;

/** Reads and validates the configuration: file or directory, then the environment. */
export async function loadAgentConfig(
  path: string | undefined,
  env: Record<string, string | undefined> = process.env,
): Promise<{ raw: Tree; config: AgentConfig; warnings: string[] }> {
  const whole = configurationFromEnvironment(env);
  let raw: Tree;
  if (whole !== undefined) {
    raw = parseConfigText(whole, 'PATRONI_CONFIGURATION');
  } else {
    if (!path) throw new Error('no configuration: pass a YAML file or directory, or set PATRONI_CONFIGURATION');
    raw = applyEnvironment(await readConfigSource(path), env).config;
  }
  const { config, warnings } = validateAgentConfig(raw);
  return { raw, config, warnings };
}

/** `host:port` → parts; `*` and an empty host mean every interface. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`expected host:port, got ${JSON.stringify(text)}`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' || host === '*' ? '0.0.0.0' : host, port: Number(m[3]) };
}

export interface RunningAgent {
  loop: HaLoop;
  api: ApiServer;
  store: ClusterStore;
  controller: PostgresController;
  logger: PinoLogger;
  /** Clean shutdown: stop PostgreSQL, release the lock, close everything. */
  shutdown(): Promise<void>;
  /** Re-reads the configuration file (SIGHUP). */
  reload(): Promise<void>;
  /** Resolves when the agent has stopped (shutdown or a fatal condition); the exit code. */
  readonly finished: Promise<number>;
}

/**
 * Says at start how this member calls its peers over https, and warns when the members ask for
 * client certificates (`restapi.verify_client`) and this one has none to present: every
 * leader-race probe and failsafe ping would then be refused.
 */
function logPeerTls(logger: PinoLogger, tls: RestClientTls, verifyClient: string | undefined): void {
  const verify = { none: 'not verified (ctl.insecure)', chain: `verified against ${tls.ca?.from} ${tls.ca?.file}`, full: 'verified against the public CAs and their host names' }[tls.verify];
  const cert = tls.cert ? `presenting ${tls.cert.from} ${tls.cert.certfile}` : 'presenting no client certificate';
  logger.info({ peerTls: { verify: tls.verify, cert: tls.cert?.certfile ?? null, ca: tls.ca?.file ?? null } }, `https peers: certificates ${verify}, ${cert}`);
  if (!tls.cert && (verifyClient === 'optional' || verifyClient === 'required')) {
    logger.warn(`restapi.verify_client is ${verifyClient} but this member has no client certificate for its peers: set ctl.certfile and ctl.keyfile, or leader races cannot compare WAL positions with members that ask for one`);
  }
}

interface PeerClient {
  fetch: PeerFetch;
  headers: Record<string, string>;
}

/**
 * How this member calls its peers' APIs: TLS from `ctl` / `restapi` (files read now, so a bad
 * path throws naming the key) and Basic auth for their unsafe endpoints (POST /failsafe) with
 * `ctl.authentication`, else the REST API's own credentials, as Patroni's PatroniRequest does.
 */
function peerClientOf(config: AgentConfig, logger: PinoLogger): PeerClient {
  const headers: Record<string, string> = {};
  const apiAuth = config.ctl?.authentication ?? config.restapi.authentication;
  if (apiAuth) headers['Authorization'] = `Basic ${Buffer.from(`${apiAuth.username}:${apiAuth.password}`).toString('base64')}`;
  const tls = restClientTls({ client: 'agent', ctl: config.ctl, restapi: config.restapi });
  const fetch = createPeerHttp({ tls });
  if (config.restapi.certfile || tls.cert || tls.ca || tls.verify === 'none') logPeerTls(logger, tls, config.restapi.verify_client);
  return { fetch, headers };
}

/** Starts an agent from a validated configuration. */
export async function startAgent(options: {
  configPath?: string;
  raw: Tree;
  config: AgentConfig;
  logger?: PinoLogger;
  /** The `PATRONI_*` / `PGHA_*` variables taken out of the environment at start (for reloads). */
  env?: Record<string, string | undefined>;
}): Promise<RunningAgent> {
  const { raw, config } = options;
  // A logger handed in (tests, embedding) is used as it is; the agent's own follows `log:` and its reloads.
  const logging: Logging | null = options.logger ? null : createLogging(config.log as Parameters<typeof createLogging>[0]);
  const logger = options.logger ?? logging!.root;
  const named = (name: Parameters<Logging['named']>[0]): PinoLogger => (logging ? logging.named(name) : logger.child({ name }));
  // The session is timed before any `config` key is read: from bootstrap.dcs, as the engine
  // resolves it (its safety correction included); the first cycle re-times it from the DCS.
  const timing = engineTiming(config.bootstrap?.dcs as Tree | undefined);
  const clock = nodeClock;

  const importers = [(specifier: string) => import(specifier)];
  const loaded = await loadDriver({ config: raw, importers });
  let dcsSettings = loaded.settings;
  const driver: DcsDriver = await loaded.createDriver({
    namespace: config.namespace,
    scope: config.scope,
    name: config.name,
    ...timing,
    section: loaded.settings,
    clock,
    logger: named('patroni.dcs'),
  });
  const store = createClusterStore(driver, { name: config.name, logger: named('patroni.dcs') });

  // Shared by reference with the peer probe: a reload rewrites it in place.
  const apiHeaders: Record<string, string> = {};
  let peerClient: PeerClient;
  try {
    peerClient = peerClientOf(config, logger);
  } catch (e) {
    await store.close({ revoke: true }).catch(() => {});
    throw e;
  }
  const setPeerClient = (next: PeerClient) => {
    peerClient = next;
    for (const key of Object.keys(apiHeaders)) delete apiHeaders[key];
    Object.assign(apiHeaders, next.headers);
  };
  setPeerClient(peerClient);
  // As urllib3's DEBUG lines in Patroni: one per call, under the `requests` logger (PATRONI_REQUESTS_LOGLEVEL).
  const requestsLog = named('requests');
  const peerHttp: PeerFetch = async (url, init) => {
    const method = init.method ?? 'GET';
    try {
      const answer = await peerClient.fetch(url, init);
      requestsLog.debug(`${method} ${url} ${answer.status}`);
      return answer;
    } catch (e) {
      requestsLog.debug(`${method} ${url} failed: ${(e as Error).message}`);
      throw e;
    }
  };

  const api = splitHostPort(config.restapi.listen);
  let apiListen = config.restapi.listen;
  const apiConnect = splitHostPort(config.restapi.connect_address ?? config.restapi.listen);
  const pgConnect = splitHostPort(String(config.postgresql.connect_address ?? config.postgresql.listen).split(',').pop()!);
  const tags = config.tags ?? {};
  const me: MemberIdentity = {
    name: config.name,
    connUrl: `postgres://${pgConnect.host}:${pgConnect.port}/postgres`,
    apiUrl: `${config.restapi.certfile ? 'https' : 'http'}://${apiConnect.host}:${apiConnect.port}/patroni`,
    tags,
    version: PATRONI_COMPATIBLE_VERSION,
    // A connection pooler or proxy in front of this member (pgbouncer, HAProxy): published as Patroni does.
    ...(config.postgresql.proxy_address ? { proxyUrl: `postgres://${String(config.postgresql.proxy_address)}/postgres` } : {}),
  };

  // Before anything is written to the DCS or done to PostgreSQL: a second agent with our name
  // would share our member and leader keys (see unique-name.ts).
  try {
    await ensureUniqueName({
      name: config.name,
      scope: config.scope,
      store,
      driver,
      fetch: peerHttp,
      headers: apiHeaders,
      clock,
      logger,
      ttl: timing.ttl,
      loopWait: timing.loopWait,
      me: { connUrl: me.connUrl, apiUrl: me.apiUrl },
    });
  } catch (e) {
    // Nothing of ours is in the DCS yet; revoking only ends the (empty) session at once.
    await store.close({ revoke: true }).catch(() => {});
    throw e;
  }

  // Read once: changing it takes an agent restart (reload() says so).
  const allowDcsCommands = config.postgresql.allow_dcs_commands === true;
  // Read once too; null = follow the other members (ha-engine patroni-dialect.ts).
  const patroniCompatibility = config.patroni_compatibility ?? null;
  // The controller's callbacks ask the loop for the names to use; the loop is built after it.
  let loopRef: HaLoop | null = null;
  let controllerSection: Tree = config.postgresql;
  const bootstrapTree = config.bootstrap?.dcs as Tree | undefined;
  // validateAgentConfig refused commands here unless allowed; the rule is applied all the same.
  const bootstrapDynamic = bootstrapTree ? (allowedDynamicPostgresql(bootstrapTree, { allowDcsCommands }).postgresql as DynamicPostgresql | undefined) : undefined;
  const controller = createPostgresController({
    name: config.name,
    scope: config.scope,
    postgresql: config.postgresql,
    ...(config.bootstrap ? { bootstrap: config.bootstrap } : {}),
    ...(bootstrapDynamic ? { dynamic: bootstrapDynamic } : {}),
    logger: named('patroni.postgresql'),
    // Asked at each callback: the names the engine chose for the cycle whose actions fire it.
    primaryRoleName: () => ((loopRef?.status().patroniDialect ?? patroniCompatibility ?? DEFAULT_PATRONI_DIALECT) === 4 ? 'primary' : 'master'),
  });
  // The DCS `config` key's `postgresql` part reaches the controller through the command rule and
  // the sanitizer (dynamic-config.ts) when the engine's read shows a version not applied yet.
  const dynamicConfig = createDynamicConfigApplier({
    controller,
    logger,
    allowDcsCommands,
    localPostgresql: () => controllerSection,
    ...(bootstrapDynamic ? { initial: bootstrapDynamic } : {}),
  });
  const postgres = adaptPostgresController(controller, { applyDynamicConfig: (config) => dynamicConfig.apply(config) });

  const identity: Identity = { name: config.name, scope: config.scope, patroniVersion: PATRONI_COMPATIBLE_VERSION, pghaVersion: PGHA_VERSION, tags };

  let resolveFinished!: (code: number) => void;
  const finished = new Promise<number>((r) => (resolveFinished = r));
  let shuttingDown: Promise<void> | null = null;

  const apiMetrics = createApiMetrics(() => clock.now());
  let self: RunningAgent | undefined;
  const watchdog = buildWatchdog({
    section: config.watchdog,
    engineConfig: () => loop.status().config,
    leaseSeconds: () => store.hold().ttl,
    logger: named('patroni.watchdog'),
  });
  // `required` and the device cannot be set up (missing, not writable, no ioctl helper): refuse
  // to start now, with the watchdog's coded error, rather than at the first promotion.
  try {
    await watchdog.watchdog.verify();
  } catch (e) {
    await store.close({ revoke: true }).catch(() => {});
    throw e;
  }
  const loop = createHaLoop({
    me,
    watchdog: watchdog.port,
    store: instrumentStore(store, apiMetrics, clock),
    postgres,
    peers: createHttpPeerProbe({ fetch: peerHttp, headers: apiHeaders }),
    clock,
    logger: named('patroni.ha'),
    settings: {
      ...(config.bootstrap?.dcs ? { bootstrapDcs: config.bootstrap.dcs as Tree } : {}),
      canBootstrap: config.bootstrap !== undefined,
      postgresql: config.postgresql as Tree,
      allowDcsCommands,
      patroniCompatibility,
    },
    onFatal: (message) => {
      logger.fatal(message);
      void shutdown(1);
    },
  });

  loopRef = loop;

  const { server, publish } = wireApi({
    restapi: config.restapi,
    listen: api,
    loop,
    store,
    postgres: { lastState: () => postgres.lastState(), salvageReports: () => controller.salvageReports() },
    identity,
    clock,
    logger: named('patroni.api'),
    reload: async () => self?.reload(),
    metrics: apiMetrics,
    allowDcsCommands,
    // GET /patroni carries `watchdog_failed` (peers skip a member that cannot fence itself).
    decorate: (snapshot) => watchdog.decorate(snapshot),
  });
  loop.onCycle(publish);
  loop.onLockChange(publish);
  controller.onPostmasterExit((exit) => {
    if (!exit.expected) logger.warn({ pid: exit.pid, code: exit.code, signal: exit.signal }, 'postmaster exited unexpectedly');
    loop.wakeup();
  });

  await server.listen();
  logger.info(`pgha ${PGHA_VERSION} (Patroni ${PATRONI_COMPATIBLE_VERSION} compatible): member ${config.name} of cluster ${config.scope}, DCS ${loaded.kind} (section ${loaded.section}, driver ${loaded.specifier}), REST API on ${config.restapi.listen}`);
  // A postmaster left running by a previous agent is adopted rather than started twice.
  const adopted = await controller.adopt().catch((e: unknown) => {
    logger.warn({ err: e }, 'could not check for a running postmaster');
    return null;
  });
  if (adopted) logger.info(`adopted the running postmaster (pid ${adopted})`);
  loop.start();

  async function shutdown(code = 0): Promise<void> {
    shuttingDown ??= (async () => {
      logger.info('shutting down');
      try {
        await loop.shutdown();
      } catch (e) {
        logger.error({ err: e }, 'error while stopping the HA loop');
      }
      await server.close();
      await controller.close().catch(() => {});
      await store.close({ revoke: true }).catch(() => {});
      logger.info('stopped');
      await logging?.close().catch(() => {});
      resolveFinished(code);
    })();
    return shuttingDown;
  }

  return (self = {
    loop,
    api: server,
    store,
    controller,
    logger,
    shutdown: () => shutdown(0),
    async reload() {
      if (!options.configPath) return;
      try {
        const next = await loadAgentConfig(options.configPath, options.env ?? process.env);
        for (const w of next.warnings) logger.warn(`configuration file: ${w}`);
        // Everything that reads files or can refuse is prepared before anything changes.
        const nextApi = apiSettings(next.config.restapi, splitHostPort(next.config.restapi.listen));
        const nextPeers = peerClientOf(next.config, logger);
        if ((next.config.patroni_compatibility ?? null) !== patroniCompatibility) {
          logger.warn(`configuration file: patroni_compatibility changed; it takes effect when the agent restarts (${patroniCompatibility === null ? 'detected from the other members' : `Patroni ${patroniCompatibility}'s names`} until then)`);
        }
        if ((next.config.postgresql.allow_dcs_commands === true) !== allowDcsCommands) {
          logger.warn(`configuration file: postgresql.allow_dcs_commands changed; it takes effect when the agent restarts (commands from the DCS stay ${allowDcsCommands ? 'allowed' : 'ignored'} until then)`);
        }
        // The DCS section first: the driver validates it and either takes it whole or changes nothing.
        const nextDcs = await loadDriver({ config: next.raw, importers });
        if (nextDcs.section !== loaded.section || nextDcs.specifier !== loaded.specifier) {
          logger.warn(`configuration file: the DCS changed (${loaded.section} → ${nextDcs.section}); it takes effect when the agent restarts`);
        } else if (JSON.stringify(nextDcs.settings) !== JSON.stringify(dcsSettings)) {
          if (!driver.reconfigure) {
            logger.warn(`configuration file: ${loaded.section} changed; the ${loaded.kind} driver applies it when the agent restarts`);
          } else {
            const dcsChange = await driver.reconfigure(nextDcs.settings);
            for (const line of dcsChange.applied) logger.info(`DCS: ${line}`);
            for (const line of dcsChange.restartRequired) logger.warn(`configuration file: ${line}; it takes effect when the agent restarts`);
            dcsSettings = nextDcs.settings;
          }
        }
        if (next.config.restapi.decisions_history !== config.restapi.decisions_history) {
          logger.warn('configuration file: restapi.decisions_history changed; it takes effect when the agent restarts');
        }
        // Logging next, so that the lines about the rest of the reload follow the new settings.
        logging?.reconfigure(next.config.log as Parameters<Logging['reconfigure']>[0]);
        // One object is read by the loop (member key, candidate rules) and the API each cycle: replaced in place.
        const nextTags = next.config.tags ?? {};
        if (JSON.stringify(nextTags) !== JSON.stringify(tags)) {
          for (const key of Object.keys(tags)) delete tags[key];
          Object.assign(tags, nextTags);
          logger.info({ tags }, 'tags changed');
        }
        const change = await controller.updateConfiguration({
          postgresql: next.config.postgresql,
          ...(next.config.bootstrap ? { bootstrap: next.config.bootstrap } : {}),
        });
        controllerSection = next.config.postgresql;
        await watchdog.watchdog.reconfigure(parseWatchdogConfig(next.config.watchdog).config);
        const listener = await server.reconfigure(nextApi).catch((e: unknown) => {
          logger.error(`restapi.listen: cannot listen on ${next.config.restapi.listen}, the REST API stays on ${apiListen}: ${(e as Error).message}`);
          return null;
        });
        if (listener === 'reopened') {
          apiListen = next.config.restapi.listen;
          logger.info(`REST API now on ${apiListen}`);
        }
        setPeerClient(nextPeers);
        logger.info({ changed: change.changed.map((c) => c.name), restartRequired: change.restartRequired }, 'reloaded the configuration file');
        loop.wakeup();
      } catch (e) {
        // A broken file changes nothing: the running configuration stays whole.
        logger.error(`configuration reload rejected, keeping the running configuration: ${(e as Error).message}`);
      }
    },
    finished,
  });
}

