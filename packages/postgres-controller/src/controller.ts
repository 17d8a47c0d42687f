/**
 * The controller: one instance per agent, acting on the local data directory. See contract.ts for
 * what each method promises; this file is how.
 */
import { chown, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { CustomTypesConfig } from 'pg';
import { join } from 'node:path';
import type { BootstrapSection, DynamicPostgresql, PostgresqlSection } from './config.js';
import { methodSettings } from './config.js';
import type {
  ConfigurationChange,
  DataDirectoryInfo,
  LifecycleState,
  PostgresController,
  PostgresState,
  PostmasterExit,
  ReplicationSlot,
  ReplicationSource,
  StopMode,
  TimelineHistoryEntry,
} from './contract.js';
import { CallbackExecutor, describeRun, runScript, type CallbackAction, type ScriptContext } from './callbacks.js';
import { bootstrapMethodArguments, optionArguments, optionNames, replicaMethodArguments } from './command-arguments.js';
import { isGeneratedConf, managedSynchronousStandbyNames, readConfValue, renderLinesFile, renderPostgresqlConf } from './config-files.js';
import { connectionUrl, localHostFor, parseConninfo, parseHostPort, pgpassContent, type PgpassTarget } from './conninfo.js';
import { parseControlData, stoppedPosition, type ControlData } from './control-data.js';
import { PostgresError, PostgresErrorCode, describeError, isPostgresError } from './errors.js';
import { ensureOwnedDirectory, inspectDataDirectoryPath, moveAside, pathExists, removeTree, writeOwnedFile, type RunAs } from './files.js';
import { silentLogger, type Logger } from './logger.js';
import { ControllerSettings, type PostgresProgram } from './settings.js';
import { locatePgpass, removePgpassLocation, writePgpassFile, type PgpassLocation } from './pgpass-file.js';
import { formatLsn, parseLsn } from './lsn.js';
import { OLDEST_WAL_FILE_QUERY, READ_SLOT_STATES_QUERY, installSlotState, walStillHere, type SlotState } from './slot-state.js';
import { REPLICA_MINIMUM_SOURCES, commandLineArguments, effectiveParameters, renderParameterValue, type EffectiveParameters } from './parameters.js';
import { childProcesses, isPostgresProcess, processAlive, processGroup, readPostmasterPid } from './postmaster-pid.js';
import { createNodeProcessRunner, MAX_TIMER_MS, type ProcessRunner, type RunningProcess, type RunResult } from './process-runner.js';
import { withConnection, LocalSession } from './sql.js';
import { STATE_QUERY, parseReplication, parseSlots, pendingRestart, type StateRow } from './state-query.js';
import { formatSynchronousStandbyNames, type SynchronousStandbySpec } from './synchronous-standby.js';
import { historyFileName, parseTimelineHistory } from './timeline-history.js';
import { describeSalvage, undecodedSalvage, WaldumpDecoder, type SalvageReport } from './salvage.js';

export interface PostgresControllerOptions {
  /** This member's name: application_name towards the primary, and its slot name. */
  name: string;
  /** The cluster name (`scope`): cluster_name, and the last argument of callbacks. */
  scope: string;
  postgresql: PostgresqlSection;
  bootstrap?: BootstrapSection;
  /** The `postgresql` part of the DCS configuration. */
  dynamic?: DynamicPostgresql;
  /** Default: the Node implementation. */
  runner?: ProcessRunner;
  logger?: Logger;
  /** The OS user PostgreSQL runs as when the agent runs as root. Default: the agent's own user. */
  runAs?: RunAs;
  /** Deadline of each SQL query, ms. Default 5000. */
  queryTimeoutMs?: number;
  /** Deadline of pre_promote and before_stop, ms. Default 60 000. */
  hookTimeoutMs?: number;
  /** Deadline of an asynchronous callback, ms. Default 600 000. */
  callbackTimeoutMs?: number;
  /** Deadline of initdb, custom bootstrap, post_bootstrap, each replica method and pg_rewind, ms. Default 3 600 000. */
  longCommandTimeoutMs?: number;
  /** How often an adopted postmaster's pid is checked, ms. Default 100. */
  adoptedPollMs?: number;
  /** Role name passed to callbacks for a primary: Patroni 4 says `primary`, 3.x said `master`. Default `primary`. */
  primaryRoleName?: 'primary' | 'master';
}

const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

interface Postmaster {
  pid: number;
  /** Present when this controller started it. */
  child?: RunningProcess;
  poll?: NodeJS.Timeout;
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new PostgresError(PostgresErrorCode.Aborted, `${what} was cancelled`);
}

/** How often a promotion in progress checks `pg_is_in_recovery()`. */
const PROMOTE_POLL_MS = 10;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function lastLines(output: string, n = 8): string {
  return output.split('\n').slice(-n).join('\n');
}

/** Creates the controller. No I/O happens until a method is called. */
export function createPostgresController(options: PostgresControllerOptions): PostgresController {
  return new LocalPostgresController(options);
}

class LocalPostgresController implements PostgresController {
  private readonly settings: ControllerSettings;
  private readonly runner: ProcessRunner;
  private readonly logger: Logger;
  private readonly runAs: RunAs | undefined;
  private readonly queryTimeoutMs: number;
  private readonly hookTimeoutMs: number;
  private readonly longTimeoutMs: number;
  private readonly adoptedPollMs: number;
  private readonly primaryRoleName: string;
  private readonly session: LocalSession;
  private readonly callbacks: CallbackExecutor;
  private readonly exitListeners = new Set<(exit: PostmasterExit) => void>();

  private state_: LifecycleState = 'stopped';
  private busy: string | null = null;
  private postmaster: Postmaster | null = null;
  private expectingExit = false;
  private role: 'primary' | 'replica' = 'replica';
  private upstream: ReplicationSource | null = null;
  private synchronousStandbyNames: string | null = null;
  private readonly salvaged: SalvageReport[] = [];
  /** False until the engine first sets synchronous_standby_names (see SYNC_NAMES_MARKER). */
  private synchronousStandbyNamesDecided = false;
  private written: EffectiveParameters | null = null;
  private versionNum: number | null = null;
  private controlCache: { mtime: number; control: ControlData } | undefined;
  private readonly options: PostgresControllerOptions;

  constructor(options: PostgresControllerOptions) {
    this.options = options;
    this.runner = options.runner ?? createNodeProcessRunner();
    this.logger = options.logger ?? silentLogger;
    this.runAs = options.runAs;
    this.queryTimeoutMs = options.queryTimeoutMs ?? 5000;
    this.hookTimeoutMs = options.hookTimeoutMs ?? 60_000;
    this.longTimeoutMs = options.longCommandTimeoutMs ?? 3_600_000;
    this.adoptedPollMs = options.adoptedPollMs ?? 100;
    this.primaryRoleName = options.primaryRoleName ?? 'primary';
    this.settings = new ControllerSettings({
      name: options.name,
      scope: options.scope,
      postgresql: options.postgresql,
      dynamic: options.dynamic,
      bootstrap: options.bootstrap,
      primaryRoleName: this.primaryRoleName,
      timeouts: {
        queryMs: this.queryTimeoutMs,
        hookMs: this.hookTimeoutMs,
        callbackMs: options.callbackTimeoutMs ?? 600_000,
        longMs: this.longTimeoutMs,
        adoptedPollMs: this.adoptedPollMs,
      },
    });
    this.session = new LocalSession(() => this.settings.localTarget(), this.queryTimeoutMs);
    this.callbacks = new CallbackExecutor(this.scriptContext(), () => this.settings.local.callbacks ?? {}, options.scope, options.callbackTimeoutMs ?? 600_000);
  }

  get lifecycle(): LifecycleState {
    return this.state_;
  }

  // ---------------------------------------------------------------- settings the parts share

  /** The role callbacks are given: Patroni's name for the primary, and `standby_leader` for a replica of a remote primary. */
  private roleForCallbacks(role: 'primary' | 'replica'): string {
    return this.settings.roleForCallbacks(role, this.upstream);
  }

  private scriptContext(env: Record<string, string> = {}): ScriptContext {
    const pgpass = () => this.settings.pgpassPath;
    return {
      runner: this.runner,
      logger: this.logger,
      runAs: this.runAs,
      // Read at each run: the .pgpass place is decided at its first write.
      get env() {
        return { PGPASSFILE: pgpass(), ...env };
      },
    };
  }

  /**
   * Runs `fn` for a command that connects with `kind`'s role. When the role has a `sslpassword`,
   * it goes in a libpq service file in a fresh 0700 temp directory (named by PGSERVICEFILE in
   * `env`, removed afterwards) and `service` names its section; else both are empty.
   */
  private async withSslPasswordService<T>(kind: 'replication' | 'rewind', fn: (service: string | undefined, env: Record<string, string>) => Promise<T>): Promise<T> {
    const sslpassword = this.settings.auth(this.settings.sourceRole(kind))?.sslpassword;
    if (sslpassword === undefined) return fn(undefined, {});
    if (/[\r\n]/.test(sslpassword)) {
      throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: postgresql.authentication.${this.settings.sourceRole(kind)}.sslpassword contains a line break`);
    }
    const dir = await mkdtemp(join(tmpdir(), 'pgha-service-'));
    try {
      if (this.runAs) await chown(dir, this.runAs.uid, this.runAs.gid);
      const file = join(dir, 'pg_service.conf');
      await writeOwnedFile(file, `[pgha]\nsslpassword=${sslpassword}\n`, { mode: 0o600, owner: this.runAs });
      return await fn('pgha', { PGSERVICEFILE: file });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async serverVersion(): Promise<number> {
    if (this.versionNum !== null) return this.versionNum;
    try {
      const major = Number((await readFile(join(this.settings.dataDir, 'PG_VERSION'), 'utf8')).trim());
      if (Number.isInteger(major) && major > 0) return major * 10000;
    } catch {
      // no data directory yet: ask the binaries
    }
    const result = await this.runBinary('postgres', ['--version'], { timeoutMs: this.queryTimeoutMs * 2 });
    const m = /(\d+)(?:\.(\d+))?/.exec(result.output);
    if (result.code !== 0 || !m) {
      throw new PostgresError(PostgresErrorCode.BinaryNotFound, `${this.settings.binary('postgres')} --version did not print a version: ${lastLines(result.output, 2)}`);
    }
    this.versionNum = Number(m[1]) * 10000 + Number(m[2] ?? 0);
    return this.versionNum;
  }

  private async parameters(minimums?: Record<string, number>): Promise<EffectiveParameters> {
    const forced: Record<string, string> = {
      hba_file: this.settings.hbaLines() !== undefined ? join(this.settings.configDir, 'pg_hba.conf') : join(this.settings.dataDir, 'pg_hba.conf'),
      ident_file: this.settings.identLines() !== undefined ? join(this.settings.configDir, 'pg_ident.conf') : join(this.settings.dataDir, 'pg_ident.conf'),
    };
    if (this.settings.configDir !== this.settings.dataDir) forced.data_directory = this.settings.dataDir;
    if (this.synchronousStandbyNames !== null) forced.synchronous_standby_names = this.synchronousStandbyNames;
    const result = effectiveParameters({
      serverVersion: await this.serverVersion(),
      dynamic: this.settings.dynamic.parameters,
      local: this.settings.local.parameters,
      listenAddresses: this.settings.listen.hosts.join(','),
      port: this.settings.listen.port,
      clusterName: this.options.scope,
      forced,
      minimums,
    });
    return result;
  }

  // ---------------------------------------------------------------- process port wrappers

  private async runBinary(
    name: PostgresProgram,
    args: string[],
    opts: { timeoutMs: number; signal?: AbortSignal | undefined; env?: Record<string, string>; stdin?: string; onLine?: (line: string) => void },
  ): Promise<RunResult> {
    const path = this.settings.binary(name);
    this.logger.debug({ command: path, args }, `running ${name}`);
    try {
      const result = await this.runner.run(path, args, {
        uid: this.runAs?.uid,
        gid: this.runAs?.gid,
        env: { LC_ALL: 'C', PGPASSFILE: this.settings.pgpassPath, ...opts.env },
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
        stdin: opts.stdin,
        onLine: opts.onLine ?? ((line) => this.logger.info({ source: name }, line)),
      });
      if (result.aborted) throw new PostgresError(PostgresErrorCode.Aborted, `${name} was cancelled`);
      return result;
    } catch (e) {
      if (isPostgresError(e)) throw e;
      throw this.binaryError(path, e);
    }
  }

  private binaryError(path: string, e: unknown): PostgresError {
    const code = (e as NodeJS.ErrnoException).code;
    const where = this.settings.local.bin_dir !== undefined ? `postgresql.bin_dir = ${this.settings.local.bin_dir}` : 'PATH; set postgresql.bin_dir';
    const what = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : `could not be run (${describeError(e)})`;
    return new PostgresError(PostgresErrorCode.BinaryNotFound, `PostgreSQL program ${path} ${what} (${where})`, { cause: e });
  }

  // ---------------------------------------------------------------- data directory

  async inspectDataDirectory(): Promise<DataDirectoryInfo> {
    const kind = await inspectDataDirectoryPath(this.settings.dataDir, this.runAs);
    const info: DataDirectoryInfo = { kind, path: this.settings.dataDir, majorVersion: null, control: null, systemIdentifier: null };
    if (kind !== 'initialized') return info;
    const major = Number((await readFile(join(this.settings.dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim());
    info.majorVersion = Number.isInteger(major) && major > 0 ? major : null;
    info.control = await this.controlData();
    info.systemIdentifier = info.control.systemIdentifier;
    return info;
  }

  private async controlData(): Promise<ControlData> {
    const result = await this.runBinary('pg_controldata', [this.settings.dataDir], { timeoutMs: this.queryTimeoutMs * 2, onLine: () => {} });
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.DataDirectory, `pg_controldata ${this.settings.dataDir} ${describeRun(result)}: ${lastLines(result.output, 3)}`);
    }
    return parseControlData(result.output);
  }

  async removeDataDirectory(): Promise<void> {
    if (this.postmaster) throw new PostgresError(PostgresErrorCode.Busy, `cannot remove ${this.settings.dataDir}: PostgreSQL is running`);
    this.logger.warn({ dataDir: this.settings.dataDir }, 'removing data directory');
    await removeTree(this.settings.dataDir);
  }

  /** An empty data directory owned by the PostgreSQL user, created when missing. */
  private async prepareEmptyDataDirectory(what: string): Promise<'created' | 'existed'> {
    const kind = await inspectDataDirectoryPath(this.settings.dataDir, this.runAs);
    if (kind === 'initialized' || kind === 'foreign') {
      throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot ${what}: data directory postgresql.data_dir (${this.settings.dataDir}) is not empty`, {
        hint: 'remove it first (reinitialize)',
      });
    }
    await ensureOwnedDirectory(this.settings.dataDir, { mode: 0o700, owner: this.runAs });
    return kind === 'missing' ? 'created' : 'existed';
  }

  // ---------------------------------------------------------------- configuration files

  /** Decides where the .pgpass file goes (once per `postgresql.pgpass` value); the location. */
  private async locatePgpass(): Promise<PgpassLocation> {
    const key = this.settings.local.pgpass ?? `default:${this.settings.dataDir}`;
    if (this.settings.pgpassLocation?.for === key) return this.settings.pgpassLocation.location;
    const previous = this.settings.pgpassLocation?.location;
    const location = await locatePgpass({
      configured: this.settings.local.pgpass,
      dataDir: this.settings.dataDir,
      owner: this.runAs,
      scope: this.options.scope,
      name: this.options.name,
      logger: this.logger,
    });
    this.settings.pgpassLocation = { for: key, location };
    if (previous) await removePgpassLocation(previous);
    return location;
  }

  /**
   * The hosts each role's password is offered to: `also` first (the source of a clone or rewind
   * about to run), then the upstream primary_conninfo streams from, then this server's own
   * addresses (its listen addresses, connect_address, socket directory, localhost) for scripts
   * such as post_bootstrap and callbacks.
   */
  private pgpassTargets(also?: { source: ReplicationSource; kind: 'replication' | 'rewind' }): PgpassTarget[] {
    const targets: PgpassTarget[] = [];
    const hostsOf = (source: ReplicationSource) => source.host.split(',');
    if (also) targets.push({ hosts: hostsOf(also.source), port: also.source.port, auth: this.settings.auth(this.settings.sourceRole(also.kind)) });
    if (this.role === 'replica' && this.upstream && !this.upstream.noStream) {
      targets.push({ hosts: hostsOf(this.upstream), port: this.upstream.port, auth: this.settings.auth('replication') });
    }
    const local = new Set(this.settings.listen.hosts.map(localHostFor));
    try {
      if (this.settings.local.connect_address) for (const host of parseHostPort(this.settings.local.connect_address, 'postgresql.connect_address', this.settings.listen.port).hosts) local.add(host);
    } catch {
      // A bad connect_address is reported where it is used; it only adds no line here.
    }
    local.add(this.settings.socketDirectory());
    local.add('localhost');
    for (const role of ['superuser', 'replication', 'rewind'] as const) targets.push({ hosts: [...local], port: this.settings.listen.port, auth: this.settings.auth(role) });
    return targets;
  }

  private async writePgpass(also?: { source: ReplicationSource; kind: 'replication' | 'rewind' }): Promise<void> {
    const location = await this.locatePgpass();
    await writePgpassFile(location, pgpassContent(this.pgpassTargets(also)), this.runAs, this.settings.local.pgpass !== undefined);
  }

  /**
   * Writes every file PostgreSQL reads for `role`. `recovery` replaces the standby settings with
   * a one-off archive recovery (custom bootstrap): recovery.signal instead of standby.signal.
   */
  private async writeConfiguration(opts: { recovery?: Record<string, string> } = {}): Promise<{ params: EffectiveParameters; hbaChanged: boolean }> {
    if (!this.synchronousStandbyNamesDecided) {
      // A restarted agent keeps what the engine had set until the engine decides again.
      const previous = await readFile(this.settings.confPath, 'utf8').catch(() => '');
      this.synchronousStandbyNames = managedSynchronousStandbyNames(previous);
      if (this.synchronousStandbyNames !== null) {
        this.logger.info({ synchronous_standby_names: this.synchronousStandbyNames }, 'keeping synchronous_standby_names as the HA engine last set it');
      }
    }
    const params = await this.desiredParameters();
    for (const warning of params.warnings) this.logger.warn({ config: 'postgresql' }, warning);
    if (this.settings.configDir !== this.settings.dataDir) await ensureOwnedDirectory(this.settings.configDir, { mode: 0o700, owner: this.runAs });

    const include = this.settings.local.custom_conf ?? 'postgresql.base.conf';
    if (this.settings.local.custom_conf === undefined) await this.ensureBaseConf();

    let hbaChanged = false;
    const hba = this.settings.hbaLines();
    if (hba !== undefined) hbaChanged = (await this.writeIfChanged(join(this.settings.configDir, 'pg_hba.conf'), renderLinesFile(hba))) || hbaChanged;
    const ident = this.settings.identLines();
    if (ident !== undefined) hbaChanged = (await this.writeIfChanged(join(this.settings.configDir, 'pg_ident.conf'), renderLinesFile(ident))) || hbaChanged;

    await this.writePgpass();
    const standby = opts.recovery ? { recoveryConf: opts.recovery } : this.role === 'replica' ? this.settings.standbySettings(this.upstream) : undefined;
    await writeOwnedFile(this.settings.confPath, renderPostgresqlConf({ include, parameters: params.file, standby, synchronousStandbyNamesManaged: this.synchronousStandbyNames !== null }), { mode: 0o600, owner: this.runAs });

    const standbySignal = join(this.settings.dataDir, 'standby.signal');
    const recoverySignal = join(this.settings.dataDir, 'recovery.signal');
    if (opts.recovery) {
      await writeOwnedFile(recoverySignal, '', { mode: 0o600, owner: this.runAs });
      await rm(standbySignal, { force: true });
    } else if (this.role === 'replica') {
      await writeOwnedFile(standbySignal, '', { mode: 0o600, owner: this.runAs });
    } else {
      await rm(standbySignal, { force: true });
      await rm(recoverySignal, { force: true });
    }
    this.written = params;
    return { params, hbaChanged };
  }

  /** The parameters for the current role: a replica never goes below its primary's settings. */
  private async desiredParameters(): Promise<EffectiveParameters> {
    return this.parameters(this.role === 'replica' ? await this.primaryMinimums() : undefined);
  }

  /** The primary's settings a hot standby may not go below, from the local pg_control. */
  private async primaryMinimums(): Promise<Record<string, number> | undefined> {
    if (!(await pathExists(join(this.settings.dataDir, 'global', 'pg_control')))) return undefined;
    const control = await this.controlData().catch(() => null);
    if (!control) return undefined;
    const minimums: Record<string, number> = {};
    for (const [name, label] of Object.entries(REPLICA_MINIMUM_SOURCES)) {
      const value = Number(control.raw[label]);
      if (Number.isInteger(value) && value > 0) minimums[name] = value;
    }
    return minimums;
  }

  private async writeIfChanged(path: string, content: string): Promise<boolean> {
    const old = await readFile(path, 'utf8').catch(() => null);
    if (old === content) return false;
    await writeOwnedFile(path, content, { mode: 0o600, owner: this.runAs });
    return true;
  }

  /**
   * postgresql.base.conf holds the DBA's settings. The first time, it is what initdb (or the
   * clone's source) left as postgresql.conf; failing that, an empty file.
   */
  private async ensureBaseConf(): Promise<void> {
    const base = join(this.settings.configDir, 'postgresql.base.conf');
    if (await pathExists(base)) return;
    for (const candidate of [this.settings.confPath, join(this.settings.dataDir, 'postgresql.conf')]) {
      const content = await readFile(candidate, 'utf8').catch(() => null);
      if (content !== null && !isGeneratedConf(content)) {
        await rename(candidate, base);
        return;
      }
    }
    await writeOwnedFile(base, '', { mode: 0o600, owner: this.runAs });
  }

  // ---------------------------------------------------------------- postmaster tracking

  onPostmasterExit(listener: (exit: PostmasterExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  private attach(pm: Postmaster): void {
    this.postmaster = pm;
    if (pm.child) {
      void pm.child.exited.then(({ code, signal }) => this.postmasterExited(pm, code, signal));
    } else {
      pm.poll = setInterval(() => {
        void processAlive(pm.pid).then((alive) => {
          if (!alive) this.postmasterExited(pm, null, null);
        });
      }, this.adoptedPollMs);
      pm.poll.unref();
    }
  }

  private postmasterExited(pm: Postmaster, code: number | null, signal: string | null): void {
    if (this.postmaster !== pm) return;
    if (pm.poll) clearInterval(pm.poll);
    this.postmaster = null;
    this.session.close();
    const expected = this.expectingExit;
    if (!expected) {
      this.state_ = this.state_ === 'starting' ? 'start failed' : 'crashed';
      this.logger.error({ pid: pm.pid, code, signal, output: pm.child ? lastLines(pm.child.output(), 5) : undefined }, 'postmaster exited unexpectedly');
    }
    for (const listener of this.exitListeners) {
      try {
        listener({ pid: pm.pid, code, signal, expected });
      } catch (e) {
        this.logger.error({ err: describeError(e) }, 'postmaster exit listener failed');
      }
    }
  }

  async adopt(): Promise<number | null> {
    if (this.postmaster) return this.postmaster.pid;
    const pidFile = await readPostmasterPid(this.settings.dataDir);
    if (!pidFile || !(await processAlive(pidFile.pid)) || !(await isPostgresProcess(pidFile.pid))) return null;
    this.attach({ pid: pidFile.pid });
    this.state_ = pidFile.status === 'ready' || pidFile.status === 'standby' ? 'running' : pidFile.status === 'stopping' ? 'stopping' : 'starting';
    this.role = (await pathExists(join(this.settings.dataDir, 'standby.signal'))) ? 'replica' : 'primary';
    this.upstream = this.role === 'replica' ? await this.configuredUpstream() : null;
    // What it should run with, so state() can tell a pending restart before anything is rewritten.
    this.written = await this.desiredParameters().catch(() => null);
    this.logger.info({ pid: pidFile.pid, status: pidFile.status, upstream: this.upstream }, 'adopted a running postmaster');
    return pidFile.pid;
  }

  /** The upstream named by primary_conninfo in the postgresql.conf a previous agent wrote. */
  private async configuredUpstream(): Promise<ReplicationSource | null> {
    const content = await readFile(this.settings.confPath, 'utf8').catch(() => '');
    const conninfo = readConfValue(content, 'primary_conninfo');
    if (!conninfo) return null;
    const params = parseConninfo(conninfo);
    if (!params.host) return null;
    const slotName = readConfValue(content, 'primary_slot_name');
    return { host: params.host, port: params.port ? Number(params.port) : 5432, ...(slotName ? { slotName } : {}) };
  }

  // ---------------------------------------------------------------- state

  async state(): Promise<PostgresState> {
    const pm = this.postmaster;
    const base: PostgresState = {
      lifecycle: this.state_,
      dataDirectory: 'unusable',
      running: pm !== null,
      postmasterPid: pm?.pid ?? null,
      accepting: false,
      role: pm ? this.role : 'unknown',
      following: this.role === 'replica' ? this.upstream : null,
      serverVersion: null,
      systemIdentifier: null,
      postmasterStartTime: null,
      timeline: null,
      checkpointLsn: null,
      rewindPossible: null,
      currentLsn: null,
      receivedLsn: null,
      replayedLsn: null,
      replayedTimestamp: null,
      replayPaused: false,
      replicationState: null,
      upstream: null,
      replication: [],
      slots: [],
      synchronousStandbyNames: null,
      pendingRestart: false,
      pendingRestartReason: {},
    };
    try {
      base.dataDirectory = await inspectDataDirectoryPath(this.settings.dataDir, this.runAs);
    } catch (e) {
      base.dataDirectoryError = describeError(e);
    }
    if (!pm) return this.stoppedState(base);
    let row: StateRow | undefined;
    try {
      const commandLine = this.written?.commandLine ?? new Map<string, string>();
      [row] = await this.session.query<StateRow & Record<string, unknown>>(STATE_QUERY, [[...commandLine.keys()]]);
    } catch (e) {
      return { ...base, queryError: describeError(e) };
    }
    if (!row) return { ...base, queryError: 'the state query returned no row' };
    if (this.state_ === 'starting' && this.busy === null) this.state_ = 'running';
    const inRecovery = row.in_recovery;
    const receiver = row.wal_receiver;
    const checkpointTimeline = Number(row.checkpoint_timeline ?? 0);
    const reason = this.written ? pendingRestart(row.settings, this.written.file, this.written.commandLine, row.in_recovery ? 'replica' : 'primary') : {};
    return {
      ...base,
      lifecycle: this.state_,
      accepting: true,
      role: inRecovery ? 'replica' : 'primary',
      serverVersion: Number(row.server_version),
      systemIdentifier: row.system_identifier,
      postmasterStartTime: row.postmaster_start_time,
      timeline: inRecovery ? Math.max(checkpointTimeline, receiver?.received_tli ?? 0) || null : Number(row.primary_timeline),
      currentLsn: parseLsn(row.current_lsn),
      receivedLsn: parseLsn(row.received_lsn),
      replayedLsn: parseLsn(row.replayed_lsn),
      replayedTimestamp: row.replayed_timestamp,
      replayPaused: row.replay_paused === true,
      replicationState: inRecovery ? (receiver?.status === 'streaming' ? 'streaming' : 'in archive recovery') : null,
      upstream: receiver
        ? { host: receiver.sender_host ?? null, port: receiver.sender_port ?? null, slotName: receiver.slot_name ?? null, receivedTimeline: receiver.received_tli ?? null }
        : null,
      replication: parseReplication(row.replication),
      slots: parseSlots(row.slots),
      synchronousStandbyNames: row.synchronous_standby_names,
      rewindPossible: row.rewind_possible,
      pendingRestart: Object.keys(reason).length > 0,
      pendingRestartReason: reason,
    };
  }

  /** A stopped server's state from pg_control, re-read only when the control file changed. */
  private async stoppedState(base: PostgresState): Promise<PostgresState> {
    if (base.dataDirectory !== 'initialized') return base;
    let control: ControlData;
    try {
      const mtime = (await stat(join(this.settings.dataDir, 'global', 'pg_control'))).mtimeMs;
      if (this.controlCache?.mtime !== mtime) this.controlCache = { mtime, control: await this.controlData() };
      control = this.controlCache.control;
    } catch (e) {
      return { ...base, dataDirectoryError: describeError(e) };
    }
    const replicaStates = ['shut down in recovery', 'in archive recovery'];
    return {
      ...base,
      role: control.clusterState === null ? 'unknown' : replicaStates.includes(control.clusterState) ? 'replica' : 'primary',
      systemIdentifier: control.systemIdentifier,
      timeline: control.checkpointTimeline,
      checkpointLsn: control.checkpointLsn,
      rewindPossible: control.dataChecksums || control.walLogHints,
    };
  }

  // ---------------------------------------------------------------- lifecycle

  private async exclusive<T>(action: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy !== null) {
      throw new PostgresError(PostgresErrorCode.Busy, `cannot ${action}: ${this.busy} is in progress`);
    }
    this.busy = action;
    try {
      return await fn();
    } finally {
      this.busy = null;
    }
  }

  start(options: { role: 'primary' | 'replica'; follow?: ReplicationSource | null; timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return this.exclusive('start', async () => {
      // Patroni: a server this agent ran as the primary, started again as a replica (the second
      // half of a demotion), fires on_role_change rather than on_start.
      const callback = this.role === 'primary' && options.role === 'replica' ? 'on_role_change' : 'on_start';
      this.role = options.role;
      this.upstream = options.role === 'replica' ? (options.follow ?? null) : null;
      await this.startPostmaster({ timeoutMs: options.timeoutMs, signal: options.signal, callback });
    });
  }

  private async startPostmaster(opts: {
    timeoutMs?: number | undefined;
    signal?: AbortSignal | undefined;
    callback: CallbackAction | null;
    recovery?: Record<string, string>;
  }): Promise<void> {
    throwIfAborted(opts.signal, 'start');
    const kind = await inspectDataDirectoryPath(this.settings.dataDir, this.runAs);
    if (kind !== 'initialized') {
      throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot start PostgreSQL: data directory postgresql.data_dir (${this.settings.dataDir}) is ${kind}`);
    }
    if (this.postmaster || (await this.adopt()) !== null) {
      this.logger.info({ pid: this.postmaster?.pid }, 'postmaster already running');
      return;
    }
    const { params } = await this.writeConfiguration(opts.recovery ? { recovery: opts.recovery } : {});
    const args = ['-D', this.settings.dataDir, `--config-file=${this.settings.confPath}`, ...commandLineArguments(params.commandLine)];
    this.state_ = 'starting';
    this.expectingExit = false;
    let child: RunningProcess;
    try {
      child = await this.runner.spawn(this.settings.binary('postgres'), args, {
        uid: this.runAs?.uid,
        gid: this.runAs?.gid,
        cwd: this.settings.dataDir,
        env: { PGPASSFILE: this.settings.pgpassPath },
        onLine: (line) => this.logger.info({ source: 'postgres' }, line),
      });
    } catch (e) {
      this.state_ = 'start failed';
      throw this.binaryError(this.settings.binary('postgres'), e);
    }
    this.logger.info({ pid: child.pid, role: this.role }, 'started postmaster');
    this.attach({ pid: child.pid, child });
    await this.waitUntilAccepting(child, opts.timeoutMs ?? this.settings.pgCtlTimeoutMs, opts.signal);
    this.state_ = 'running';
    if (opts.callback) this.callbacks.fire(opts.callback, this.roleForCallbacks(this.role));
  }

  private async waitUntilAccepting(child: RunningProcess, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const until = Date.now() + timeoutMs;
    let exited = false;
    void child.exited.then(() => (exited = true));
    while (true) {
      if (exited || this.postmaster?.pid !== child.pid) {
        this.state_ = 'start failed';
        throw new PostgresError(PostgresErrorCode.StartFailed, `postgres exited while starting (data directory ${this.settings.dataDir}):\n${lastLines(child.output())}`);
      }
      if (signal?.aborted) {
        // A postmaster must not come up after its start was cancelled.
        await this.stopPostmaster({ mode: 'immediate', timeoutMs: 10_000, callback: null });
        throwIfAborted(signal, 'start');
      }
      const pidFile = await readPostmasterPid(this.settings.dataDir);
      if (pidFile?.pid === child.pid && (pidFile.status === 'ready' || pidFile.status === 'standby')) {
        try {
          await this.session.query('SELECT 1', [], Math.max(1000, Math.min(this.queryTimeoutMs, until - Date.now())));
          return;
        } catch {
          // not yet accepting (e.g. still consistent-state pending); keep waiting
        }
      }
      if (Date.now() >= until) {
        throw new PostgresError(
          PostgresErrorCode.StartTimeout,
          `PostgreSQL did not accept connections within ${Math.round(timeoutMs / 1000)} s (postgresql.pg_ctl_timeout); it is still starting`,
        );
      }
      await sleep(100);
    }
  }

  stop(options: { mode?: StopMode; checkpoint?: boolean; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.exclusive('stop', () => this.stopPostmaster({ ...options, callback: 'on_stop' }));
  }

  /**
   * Fencing (the lock holder's safety deadline passed): stops the postmaster at once, *without*
   * the lifecycle lock. A promote, a start or a demote's CHECKPOINT holds that lock for up to
   * pg_ctl_timeout, and `stop` would be refused (PG_BUSY) all that time while the server may take
   * writes with the lease running out. SIGQUIT (immediate shutdown) first; if the postmaster has
   * not exited after `graceMs`, SIGKILL of its process group. Resolves once it is gone (at once
   * when none runs); rejects with PG_STOP_FAILED when that cannot be confirmed. The action that
   * held the lock then fails on its own (its server is gone); the caller aborts it as well.
   */
  async fence(options: { graceMs?: number } = {}): Promise<void> {
    const pm = this.postmaster ?? ((await this.adopt()) !== null ? this.postmaster : null);
    if (!pm) return;
    this.expectingExit = true;
    this.state_ = 'stopping';
    this.logger.warn({ pid: pm.pid, busy: this.busy }, 'fencing PostgreSQL: immediate shutdown');
    // False when it is already gone: the exit watcher reports it.
    this.runner.signal(pm.pid, 'SIGQUIT');
    let gone = await this.waitForExit(pm, options.graceMs ?? 2000);
    if (!gone) {
      this.logger.warn({ pid: pm.pid }, 'PostgreSQL did not stop at once when fenced; killing the postmaster and its processes');
      await this.killPostmaster(pm.pid);
      gone = await this.waitForExit(pm, 2000);
    }
    if (!gone) {
      throw new PostgresError(PostgresErrorCode.StopFailed, `fencing: the postmaster (pid ${pm.pid}) of ${this.settings.dataDir} did not exit, even after SIGKILL`);
    }
    this.state_ = 'stopped';
  }

  private async stopPostmaster(opts: { mode?: StopMode | undefined; checkpoint?: boolean | undefined; timeoutMs?: number | undefined; callback: CallbackAction | null }): Promise<void> {
    const pm = this.postmaster ?? ((await this.adopt()) !== null ? this.postmaster : null);
    if (!pm) {
      if (this.state_ !== 'crashed') this.state_ = 'stopped';
      return;
    }
    const mode = opts.mode ?? 'fast';
    if (this.settings.local.before_stop) {
      const result = await runScript(this.scriptContext(), 'before_stop', this.settings.local.before_stop, [], { timeoutMs: this.hookTimeoutMs }).catch((e: unknown) => {
        this.logger.error({ err: describeError(e) }, 'before_stop could not be started');
        return null;
      });
      if (result && result.code !== 0) this.logger.warn({ output: lastLines(result.output) }, `before_stop ${describeRun(result)}; stopping anyway`);
    }
    if (opts.checkpoint && mode !== 'immediate') {
      await this.checkpoint().catch((e: unknown) => this.logger.warn({ err: describeError(e) }, 'CHECKPOINT before stop failed'));
    }
    this.state_ = 'stopping';
    this.expectingExit = true;
    this.logger.info({ pid: pm.pid, mode }, 'stopping PostgreSQL');
    // False when it is already gone: the exit watcher reports it.
    this.runner.signal(pm.pid, STOP_SIGNALS[mode]);
    let gone = await this.waitForExit(pm, opts.timeoutMs ?? this.settings.pgCtlTimeoutMs);
    if (!gone) {
      this.logger.warn({ pid: pm.pid, mode }, 'PostgreSQL did not stop in time; killing the postmaster and its processes');
      await this.killPostmaster(pm.pid);
      gone = await this.waitForExit(pm, 10_000);
    }
    if (!gone) {
      this.state_ = 'stop failed';
      this.expectingExit = false;
      throw new PostgresError(PostgresErrorCode.StopFailed, `the postmaster (pid ${pm.pid}) of ${this.settings.dataDir} did not exit, even after SIGKILL`);
    }
    this.expectingExit = false;
    this.state_ = 'stopped';
    if (opts.callback) this.callbacks.fire(opts.callback, this.roleForCallbacks(this.role));
  }

  private async waitForExit(pm: Postmaster, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    if (pm.child) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.min(timeoutMs, MAX_TIMER_MS))));
      const done = await Promise.race([pm.child.exited.then(() => true as const), timedOut]);
      clearTimeout(timer);
      // Let the exit handler (queued on the same promise) run first.
      await sleep(0);
      return done;
    }
    while (Date.now() < until) {
      if (!(await processAlive(pm.pid))) {
        this.postmasterExited(pm, null, null);
        return true;
      }
      await sleep(50);
    }
    return false;
  }

  /** SIGKILL the postmaster's process group (it leads one when started by us or pg_ctl), else it and its children. */
  private async killPostmaster(pid: number): Promise<void> {
    // A process that is already gone is simply not signalled.
    if ((await processGroup(pid)) === pid) {
      this.runner.signal(pid, 'SIGKILL', { group: true });
      return;
    }
    for (const target of [pid, ...(await childProcesses(pid))]) this.runner.signal(target, 'SIGKILL');
  }

  restart(options: { mode?: StopMode; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.exclusive('restart', async () => {
      try {
        await this.stopPostmaster({ mode: options.mode, timeoutMs: options.timeoutMs, callback: null });
        this.state_ = 'restarting';
        await this.startPostmaster({ timeoutMs: options.timeoutMs, signal: options.signal, callback: 'on_restart' });
      } catch (e) {
        if (!isPostgresError(e, PostgresErrorCode.StartTimeout)) this.state_ = 'restart failed';
        throw e;
      }
    });
  }

  async reload(): Promise<ConfigurationChange> {
    return this.updateConfiguration({});
  }

  async updateConfiguration(next: { postgresql?: PostgresqlSection; dynamic?: DynamicPostgresql; bootstrap?: BootstrapSection }): Promise<ConfigurationChange> {
    this.settings.update(next);
    const before = this.written;
    const pm = this.postmaster;
    if (!pm || (await inspectDataDirectoryPath(this.settings.dataDir, this.runAs)) !== 'initialized') {
      const params = await this.desiredParameters();
      return {
        changed: diffParameters(before, params).map((c) => ({ ...c, context: null })),
        hbaChanged: false,
        reloaded: false,
        restartRequired: [],
        pendingRestart: false,
        pendingRestartReason: {},
        warnings: params.warnings,
      };
    }
    const { params, hbaChanged } = await this.writeConfiguration();
    const changes = diffParameters(before, params);
    const contexts = new Map<string, string>();
    if (changes.length > 0) {
      const rows = await this.session
        .query<{ name: string; context: string }>('SELECT name, context FROM pg_catalog.pg_settings WHERE name = ANY($1::text[])', [changes.map((c) => c.name)])
        .catch(() => []);
      for (const r of rows) contexts.set(r.name, r.context);
    }
    await this.signalReload(pm);
    this.callbacks.fire('on_reload', this.roleForCallbacks(this.role));
    const settings = await this.session
      .query<NonNullable<StateRow['settings']>[number]>(
        'SELECT name, setting, unit, pending_restart FROM pg_catalog.pg_settings WHERE pending_restart OR name = ANY($1::text[])',
        [[...params.commandLine.keys()]],
      )
      .catch(() => []);
    const reason = pendingRestart(settings, params.file, params.commandLine, this.role);
    const changed = changes.map((c) => ({ ...c, context: contexts.get(c.name) ?? null }));
    return {
      changed,
      hbaChanged,
      reloaded: true,
      restartRequired: changed.filter((c) => c.context === 'postmaster' || params.commandLine.has(c.name)).map((c) => c.name),
      pendingRestart: Object.keys(reason).length > 0,
      pendingRestartReason: reason,
      warnings: params.warnings,
    };
  }

  /** SIGHUP, then wait (bounded) until our session has seen the new configuration. */
  private async signalReload(pm: Postmaster): Promise<void> {
    const loadTime = async (): Promise<string | undefined> => (await this.session.query<{ t: string }>('SELECT pg_catalog.pg_conf_load_time()::text AS t'))[0]?.t;
    const before: string | undefined = await loadTime().catch((): undefined => undefined);
    if (!this.runner.signal(pm.pid, 'SIGHUP')) {
      throw new PostgresError(PostgresErrorCode.NotRunning, `cannot reload: the postmaster (pid ${pm.pid}) is gone`);
    }
    if (before === undefined) return;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      await sleep(50);
      const now: string | undefined = await loadTime().catch((): string | undefined => before);
      if (now !== before) return;
    }
    this.logger.warn({}, 'PostgreSQL did not report reloading its configuration within 5 s');
  }

  async checkpoint(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.session.query('CHECKPOINT', [], options.timeoutMs ?? this.settings.pgCtlTimeoutMs);
  }

  promote(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.exclusive('promote', async () => {
      if (!this.postmaster) throw new PostgresError(PostgresErrorCode.NotRunning, 'cannot promote: PostgreSQL is not running');
      const [row] = await this.session.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r');
      if (row?.r === false) {
        this.role = 'primary';
        return;
      }
      if (this.settings.local.pre_promote) {
        const result = await runScript(this.scriptContext(), 'pre_promote', this.settings.local.pre_promote, [], {
          timeoutMs: this.hookTimeoutMs,
          signal: options.signal,
        }).catch((e: unknown) => {
          throw new PostgresError(PostgresErrorCode.PrePromoteFailed, `pre_promote script could not be started: ${describeError(e)}`, { cause: e });
        });
        if (result.code !== 0) {
          throw new PostgresError(PostgresErrorCode.PrePromoteFailed, `pre_promote script ${describeRun(result)}; not promoting:\n${lastLines(result.output)}`);
        }
      }
      throwIfAborted(options.signal, 'promote');
      this.logger.info({}, 'promoting PostgreSQL');
      await this.session.query('SELECT pg_catalog.pg_promote(false)');
      const until = Date.now() + (options.timeoutMs ?? this.settings.pgCtlTimeoutMs);
      while (true) {
        const [r] = await this.session.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r').catch(() => [{ r: true }]);
        if (r?.r === false) break;
        if (Date.now() >= until) {
          throw new PostgresError(PostgresErrorCode.PromoteFailed, `PostgreSQL was asked to promote but was still in recovery after ${Math.round((options.timeoutMs ?? this.settings.pgCtlTimeoutMs) / 1000)} s`);
        }
        throwIfAborted(options.signal, 'promote');
        // Writes wait on this poll during a failover: end of recovery usually takes tens of ms,
        // so a coarse interval would add up to its own length to every failover.
        await sleep(PROMOTE_POLL_MS);
      }
      this.role = 'primary';
      this.upstream = null;
      await this.writeConfiguration();
      this.callbacks.fire('on_role_change', this.roleForCallbacks('primary'));
    });
  }

  follow(source: ReplicationSource | null, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.exclusive('follow', async () => {
      // Patroni: a running replica that becomes the standby leader (or stops being one) fires on_role_change.
      const before = this.postmaster && this.role === 'replica' ? this.roleForCallbacks('replica') : null;
      this.role = 'replica';
      this.upstream = source;
      const roleChanged = before !== null && before !== this.roleForCallbacks('replica');
      const pm = this.postmaster;
      if (!pm) {
        if ((await inspectDataDirectoryPath(this.settings.dataDir, this.runAs)) === 'initialized') await this.writeConfiguration();
        return;
      }
      if ((await this.serverVersion()) >= 130000) {
        await this.writeConfiguration();
        await this.signalReload(pm);
        if (roleChanged) this.callbacks.fire('on_role_change', this.roleForCallbacks('replica'));
        return;
      }
      await this.stopPostmaster({ mode: 'fast', timeoutMs: options.timeoutMs, callback: null });
      await this.startPostmaster({ timeoutMs: options.timeoutMs, signal: options.signal, callback: roleChanged ? 'on_role_change' : 'on_restart' });
    });
  }

  // ---------------------------------------------------------------- bootstrap

  bootstrap(options: { signal?: AbortSignal } = {}): Promise<{ systemIdentifier: string }> {
    return this.exclusive('bootstrap', async () => {
      const method = this.settings.bootstrap.method ?? 'initdb';
      const custom = method !== 'initdb';
      const settings = custom ? methodSettings(this.settings.bootstrap as Record<string, unknown>, method) : undefined;
      if (custom && !settings?.command) {
        throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: bootstrap.${method}.command is not set (bootstrap.method = ${method})`);
      }
      await this.serverVersion(); // a wrong bin_dir fails here, before anything is written
      const created = await this.prepareEmptyDataDirectory('bootstrap');
      this.role = 'primary';
      this.upstream = null;
      this.state_ = custom ? 'running custom bootstrap script' : 'initializing new cluster';
      let step = custom ? `custom bootstrap method ${method}` : 'initdb';
      try {
        if (custom) {
          this.settings.trustLocalSuperuser = true;
          await this.runCustomBootstrap(method, settings!, options.signal);
        } else {
          await this.runInitdb(options.signal);
        }
        step = 'configuration';
        await this.ensureBaseConf();
        if (this.settings.configuredHbaLines() === undefined && this.settings.bootstrap.pg_hba?.length) {
          const hbaPath = join(this.settings.dataDir, 'pg_hba.conf');
          const initial = await readFile(hbaPath, 'utf8').catch(() => '');
          await writeOwnedFile(hbaPath, `${initial.trimEnd()}\n${this.settings.bootstrap.pg_hba.join('\n')}\n`, { mode: 0o600, owner: this.runAs });
        }
        step = 'start';
        if (custom && settings?.recovery_conf) {
          this.state_ = 'starting after custom bootstrap';
          const recovery = Object.fromEntries(Object.entries(settings.recovery_conf).map(([k, v]) => [k, renderParameterValue(v)]));
          recovery.recovery_target_action ??= 'promote';
          await this.startPostmaster({ timeoutMs: this.longTimeoutMs, signal: options.signal, callback: null, recovery });
          await this.waitForEndOfRecovery(options.signal);
          await this.writeConfiguration();
        } else {
          if (custom && !settings?.keep_existing_recovery_conf) {
            await rm(join(this.settings.dataDir, 'recovery.signal'), { force: true });
          }
          await this.startPostmaster({ timeoutMs: this.settings.pgCtlTimeoutMs, signal: options.signal, callback: null });
        }
        step = 'creating roles';
        await this.createRoles(custom);
        if (this.settings.trustLocalSuperuser) {
          // The superuser has its configured password now: drop the trust line.
          this.settings.trustLocalSuperuser = false;
          const { hbaChanged } = await this.writeConfiguration();
          if (hbaChanged) await this.session.query('SELECT pg_catalog.pg_reload_conf()');
        }
        step = 'post_bootstrap';
        await this.runPostBootstrap(options.signal);
        const [row] = await this.session.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()');
        this.state_ = 'running';
        this.callbacks.fire('on_start', this.roleForCallbacks('primary'));
        return { systemIdentifier: row?.id ?? '' };
      } catch (e) {
        this.settings.trustLocalSuperuser = false;
        const where = await this.abandonBootstrap(created);
        this.state_ = custom ? 'custom bootstrap failed' : 'initdb failed';
        if (isPostgresError(e, PostgresErrorCode.Aborted)) throw e;
        throw new PostgresError(PostgresErrorCode.BootstrapFailed, `bootstrap failed during ${step}: ${describeError(e)}${where}`, { cause: e });
      }
    });
  }

  /** After a failed bootstrap: stop what was started and get the data directory out of the way. */
  private async abandonBootstrap(created: 'created' | 'existed'): Promise<string> {
    if (this.postmaster) {
      await this.stopPostmaster({ mode: 'immediate', timeoutMs: 10_000, callback: null }).catch((e: unknown) =>
        this.logger.error({ err: describeError(e) }, 'could not stop PostgreSQL after a failed bootstrap'),
      );
    }
    const kind = await inspectDataDirectoryPath(this.settings.dataDir, this.runAs).catch(() => 'foreign' as const);
    if (kind === 'missing') return '';
    if (kind === 'empty') {
      if (created === 'created') await removeTree(this.settings.dataDir);
      return '';
    }
    const moved = await moveAside(this.settings.dataDir, 'failed');
    this.logger.error({ dataDir: this.settings.dataDir, movedTo: moved }, 'moved the data directory of the failed bootstrap aside');
    return `; the data directory was moved to ${moved}`;
  }

  private async runInitdb(signal: AbortSignal | undefined): Promise<void> {
    const su = this.settings.auth('superuser');
    const args = ['-D', this.settings.dataDir, `--username=${this.settings.superuserName()}`, ...optionArguments(this.settings.bootstrap.initdb)];
    let pwdir: string | undefined;
    if (su?.password !== undefined) {
      // In a fresh 0700 directory with an unpredictable name: another user cannot take the name first.
      pwdir = await mkdtemp(join(tmpdir(), 'pgha-initdb-'));
      if (this.runAs) await chown(pwdir, this.runAs.uid, this.runAs.gid);
      const pwfile = join(pwdir, 'pwfile');
      await writeOwnedFile(pwfile, `${su.password}\n`, { mode: 0o600, owner: this.runAs });
      args.push(`--pwfile=${pwfile}`);
    }
    try {
      const result = await this.runBinary('initdb', args, { timeoutMs: this.longTimeoutMs, signal });
      if (result.code !== 0) throw new Error(`initdb ${describeRun(result)}:\n${lastLines(result.output)}`);
    } finally {
      if (pwdir) await rm(pwdir, { recursive: true, force: true });
    }
  }

  private async runCustomBootstrap(method: string, settings: NonNullable<ReturnType<typeof methodSettings>>, signal: AbortSignal | undefined): Promise<void> {
    await this.writePgpass();
    const args = bootstrapMethodArguments(settings, { scope: this.options.scope, dataDir: this.settings.dataDir });
    const result = await runScript(this.scriptContext(), `bootstrap.${method}`, settings.command!, args, { timeoutMs: this.longTimeoutMs, signal }).catch(
      (e: unknown) => {
        throw new Error(`bootstrap.${method}.command could not be started: ${describeError(e)}`);
      },
    );
    throwIfAborted(signal, 'bootstrap');
    if (result.code !== 0) throw new Error(`bootstrap.${method}.command ${describeRun(result)}:\n${lastLines(result.output)}`);
    if ((await inspectDataDirectoryPath(this.settings.dataDir, this.runAs)) !== 'initialized') {
      throw new Error(`bootstrap.${method}.command succeeded but ${this.settings.dataDir} is not a PostgreSQL data directory`);
    }
  }

  private async waitForEndOfRecovery(signal: AbortSignal | undefined): Promise<void> {
    const until = Date.now() + this.longTimeoutMs;
    while (Date.now() < until) {
      throwIfAborted(signal, 'bootstrap');
      const [r] = await this.session.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r').catch(() => [{ r: true }]);
      if (r?.r === false) return;
      if (!this.postmaster) throw new Error('PostgreSQL exited during recovery after the custom bootstrap');
      await sleep(500);
    }
    throw new Error('recovery after the custom bootstrap did not end in time');
  }

  /**
   * The replication and rewind roles, the superuser's password after a custom bootstrap, and
   * `bootstrap.users`. Statements are built server-side with format(%I, %L) so names and passwords
   * are quoted by PostgreSQL, and statement logging is off in that session so passwords stay out
   * of the server log.
   */
  private async createRoles(custom: boolean): Promise<void> {
    await withConnection(this.settings.localTarget(), this.queryTimeoutMs * 4, async (client) => {
      await client.query("SET log_statement TO 'none'; SET log_min_duration_statement TO -1; SET log_min_error_statement TO 'panic'");
      const run = async (template: string, name: string, password: string | undefined) => {
        const { rows } = await client.query<{ sql: string }>(`SELECT format($1, $2::text, $3::text) AS sql`, [template, name, password ?? null]);
        await client.query(rows[0]!.sql);
      };
      const ensure = async (name: string, password: string | undefined, attributes: string) => {
        const { rows } = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [name]);
        const verb = rows.length > 0 ? 'ALTER' : 'CREATE';
        await run(`${verb} ROLE %I WITH ${attributes}${password !== undefined ? ' PASSWORD %L' : ''}`, name, password);
      };
      const su = this.settings.auth('superuser');
      if (custom && su?.password !== undefined) await ensure(this.settings.superuserName(), su.password, 'SUPERUSER LOGIN');
      const repl = this.settings.auth('replication');
      if (repl?.username && repl.username !== this.settings.superuserName()) await ensure(repl.username, repl.password, 'REPLICATION LOGIN');
      const rewind = this.settings.auth('rewind');
      if (rewind?.username && rewind.username !== this.settings.superuserName()) {
        await ensure(rewind.username, rewind.password, 'LOGIN');
        for (const fn of [
          'pg_catalog.pg_ls_dir(text, boolean, boolean)',
          'pg_catalog.pg_stat_file(text, boolean)',
          'pg_catalog.pg_read_binary_file(text)',
          'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
        ]) {
          await run(`GRANT EXECUTE ON FUNCTION ${fn} TO %I`, rewind.username, undefined);
        }
      }
      for (const [name, user] of Object.entries(this.settings.bootstrap.users ?? {})) {
        const options = (user.options ?? []).map((o) => o.trim().toUpperCase());
        const bad = options.find((o) => !/^[A-Z_][A-Z0-9_ ]*$/.test(o));
        if (bad !== undefined) throw new Error(`bootstrap.users.${name}.options: "${bad}" is not a role option`);
        await ensure(name, user.password, ['LOGIN', ...options].join(' '));
      }
    });
  }

  private async runPostBootstrap(signal: AbortSignal | undefined): Promise<void> {
    const script = this.settings.bootstrap.post_bootstrap ?? this.settings.bootstrap.post_init;
    if (!script) return;
    const key = this.settings.bootstrap.post_bootstrap ? 'bootstrap.post_bootstrap' : 'bootstrap.post_init';
    const target = this.settings.localTarget();
    const url = connectionUrl({ user: target.user, host: target.host, port: target.port });
    await this.writePgpass();
    const result = await runScript(this.scriptContext(), key, script, [url], { timeoutMs: this.longTimeoutMs, signal }).catch((e: unknown) => {
      throw new Error(`${key} script ${script} could not be started: ${describeError(e)}`);
    });
    throwIfAborted(signal, 'bootstrap');
    if (result.code !== 0) throw new Error(`${key} script ${script} ${describeRun(result)}:\n${lastLines(result.output)}`);
  }

  // ---------------------------------------------------------------- replica creation

  createReplica(options: { source: ReplicationSource | null; signal?: AbortSignal }): Promise<{ method: string }> {
    return this.exclusive('create replica', () => this.createReplicaNow(options));
  }

  private async createReplicaNow(options: { source: ReplicationSource | null; signal?: AbortSignal | undefined }): Promise<{ method: string }> {
    if (this.postmaster) throw new PostgresError(PostgresErrorCode.Busy, 'cannot create a replica: PostgreSQL is running');
    await this.serverVersion();
    await this.prepareEmptyDataDirectory('create a replica');
    this.state_ = 'creating replica';
    await this.writePgpass(options.source ? { source: options.source, kind: 'replication' } : undefined);
    // A standby cluster's `standby_cluster.create_replica_methods` decide how its leader clones the remote primary.
    const methods = options.source?.remote?.createReplicaMethods ?? this.settings.local.create_replica_methods ?? ['basebackup'];
    const failures: string[] = [];
    for (const method of methods) {
      throwIfAborted(options.signal, 'replica creation');
      const settings = method === 'basebackup' ? { no_leader: false } : methodSettings(this.settings.local as Record<string, unknown>, method);
      if (method !== 'basebackup' && !settings?.command) {
        failures.push(`${method}: postgresql.${method}.command is not set`);
        continue;
      }
      if (options.source === null && !settings?.no_leader) {
        failures.push(`${method}: needs a running leader to copy from`);
        continue;
      }
      try {
        await this.runReplicaMethod(method, settings!, options.source, options.signal);
        if ((await inspectDataDirectoryPath(this.settings.dataDir, this.runAs)) !== 'initialized') {
          throw new Error(`succeeded but ${this.settings.dataDir} is not a PostgreSQL data directory`);
        }
        this.role = 'replica';
        this.upstream = options.source;
        await this.ensureBaseConf();
        await this.writeConfiguration();
        this.state_ = 'stopped';
        this.logger.info({ method, source: options.source }, 'replica created');
        return { method };
      } catch (e) {
        if (isPostgresError(e, PostgresErrorCode.Aborted) || isPostgresError(e, PostgresErrorCode.BinaryNotFound)) {
          await removeTree(this.settings.dataDir);
          this.state_ = 'stopped';
          throw e;
        }
        failures.push(`${method}: ${describeError(e)}`);
        this.logger.warn({ method, err: describeError(e) }, 'replica creation method failed');
        if (!settings?.keep_data) {
          await removeTree(this.settings.dataDir);
          await ensureOwnedDirectory(this.settings.dataDir, { mode: 0o700, owner: this.runAs });
        }
      }
    }
    await removeTree(this.settings.dataDir);
    this.state_ = 'stopped';
    const from = options.source ? ` from ${options.source.name ?? ''}${options.source.name ? ' ' : ''}(${options.source.host}:${options.source.port})` : '';
    throw new PostgresError(PostgresErrorCode.ReplicaFailed, `could not create a replica${from}; the data directory was removed. ${failures.join('; ')}`);
  }

  private async runReplicaMethod(
    method: string,
    settings: NonNullable<ReturnType<typeof methodSettings>>,
    source: ReplicationSource | null,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const result = await this.withSslPasswordService('replication', async (service, env): Promise<RunResult> => {
      const conninfo = source ? this.settings.sourceConninfo(source, 'replication', { application_name: `pgha_${method}`, connect_timeout: 10 }, service) : null;
      if (method !== 'basebackup') {
        const args = replicaMethodArguments(settings, { scope: this.options.scope, dataDir: this.settings.dataDir, connstring: conninfo });
        const ran = await runScript(this.scriptContext(env), `postgresql.${method}`, settings.command!, args, { timeoutMs: this.longTimeoutMs, signal });
        throwIfAborted(signal, 'replica creation');
        return ran;
      }
      const userArgs = optionArguments(this.settings.local.basebackup);
      const given = optionNames(userArgs);
      const args = [`--pgdata=${this.settings.dataDir}`, `--dbname=${conninfo}`, '--progress', '--verbose', ...userArgs];
      if (!given.has('wal-method') && !given.has('X')) args.push('--wal-method=stream');
      let lastProgress = 0;
      return this.runBinary('pg_basebackup', args, {
        timeoutMs: this.longTimeoutMs,
        signal,
        env,
        onLine: (line) => {
          // --progress rewrites one line every second; log it every 5 s.
          const progress = /\d+\/\d+ kB/.test(line);
          if (progress && Date.now() - lastProgress < 5000) return;
          if (progress) lastProgress = Date.now();
          this.logger.info({ source: 'pg_basebackup' }, line);
        },
      });
    });
    if (result.code !== 0) throw new Error(`${method === 'basebackup' ? 'pg_basebackup' : settings.command} ${describeRun(result)}: ${lastLines(result.output, 4)}`);
  }

  // ---------------------------------------------------------------- timelines and rewind

  async readTimelineHistory(timeline?: number): Promise<TimelineHistoryEntry[]> {
    let tli = timeline;
    if (tli === undefined) {
      const s = await this.state();
      tli = s.timeline ?? (await this.controlData()).checkpointTimeline ?? 1;
    }
    if (tli <= 1) return [];
    const walDir = join(this.settings.dataDir, 'pg_wal');
    let content: string;
    let mtime: Date;
    try {
      const file = join(walDir, historyFileName(tli));
      content = await readFile(file, 'utf8');
      mtime = (await stat(file)).mtime;
    } catch {
      return [];
    }
    const entries: TimelineHistoryEntry[] = [];
    for (const entry of parseTimelineHistory(content)) {
      // The switch that ended timeline N created N+1.history: its mtime is when it happened.
      const next = await stat(join(walDir, historyFileName(entry.timeline + 1))).catch(() => null);
      entries.push({ ...entry, timestamp: (next?.mtime ?? mtime).toISOString() });
    }
    return entries;
  }

  /** The primary's timeline and the history that leads to it, over the replication protocol. */
  private async primaryTimeline(source: ReplicationSource): Promise<{ timeline: number; systemIdentifier: string; history: ReturnType<typeof parseTimelineHistory> }> {
    try {
      return await withConnection(this.settings.sourceTarget(source, 'replication'), this.queryTimeoutMs * 2, async (client) => {
        const identify = await client.query<{ systemid: string; timeline: string | number }>('IDENTIFY_SYSTEM');
        const row = identify.rows[0];
        const timeline = Number(row?.timeline);
        if (!row || !Number.isInteger(timeline)) throw new Error('IDENTIFY_SYSTEM gave no timeline');
        let history: ReturnType<typeof parseTimelineHistory> = [];
        if (timeline > 1) {
          // The content column is raw file bytes labelled bytea: read it as text, unparsed.
          const raw = { getTypeParser: () => (v: string) => v } as unknown as CustomTypesConfig;
          const res = await client.query<{ content: string }>({ text: `TIMELINE_HISTORY ${timeline}`, types: raw });
          history = parseTimelineHistory(String(res.rows[0]?.content ?? ''));
        }
        return { timeline, systemIdentifier: String(row.systemid), history };
      });
    } catch (e) {
      throw new PostgresError(
        PostgresErrorCode.TimelineCheckFailed,
        `cannot read the timeline of ${source.name ?? 'the primary'} (${source.host}:${source.port}): ${describeError(e)}`,
        { cause: e },
      );
    }
  }

  recoverCrash(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.exclusive('crash recovery', () => this.recoverCrashNow(options.signal));
  }

  /** Single-user mode replays the WAL and shuts down cleanly (stdin at EOF ends the session). */
  private async recoverCrashNow(signal: AbortSignal | undefined): Promise<void> {
    if (this.postmaster) throw new PostgresError(PostgresErrorCode.Busy, 'cannot run crash recovery: PostgreSQL is running');
    const control = await this.controlData();
    if (control.clusterState === 'shut down' || control.clusterState === 'shut down in recovery') return;
    this.logger.info({ state: control.clusterState }, 'doing crash recovery in a single user mode');
    const { params } = await this.writeConfiguration();
    // Single-user mode cannot be a standby: the signal files are rewritten at the next start.
    await rm(join(this.settings.dataDir, 'standby.signal'), { force: true });
    await rm(join(this.settings.dataDir, 'recovery.signal'), { force: true });
    const args = ['--single', '-D', this.settings.dataDir, `--config-file=${this.settings.confPath}`, '-c', 'archive_mode=off'];
    for (const [name, value] of params.commandLine) if (name !== 'listen_addresses' && name !== 'hot_standby') args.push('-c', `${name}=${value}`);
    args.push('postgres');
    const result = await this.runBinary('postgres', args, { timeoutMs: this.longTimeoutMs, signal, stdin: '' });
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.TimelineCheckFailed, `crash recovery in single-user mode ${describeRun(result)}: ${lastLines(result.output, 4)}`);
    }
  }

  rewind(source: ReplicationSource, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.exclusive('rewind', () => this.rewindNow(source, options.signal));
  }

  private async rewindNow(source: ReplicationSource, signal: AbortSignal | undefined): Promise<void> {
    const from = `${source.name ?? 'the primary'} (${source.host}:${source.port})`;
    if (this.postmaster) throw new PostgresError(PostgresErrorCode.RewindImpossible, 'cannot rewind: PostgreSQL is running; stop it first');
    if (!this.settings.useRewind()) throw new PostgresError(PostgresErrorCode.RewindImpossible, 'cannot rewind: postgresql.use_pg_rewind is off');
    const control = await this.controlData();
    if (!control.dataChecksums && !control.walLogHints) {
      throw new PostgresError(PostgresErrorCode.RewindImpossible, `cannot rewind ${this.settings.dataDir}: neither data checksums nor wal_log_hints are on`, {
        hint: 'set wal_log_hints: on in the DCS parameters, or initdb with data-checksums',
      });
    }
    if (!control.clusterState?.startsWith('shut down')) await this.recoverCrashNow(signal);
    await this.waitForSourceCheckpoint(source, signal);
    await this.salvage(source, signal).catch((e: unknown) => this.logger.warn({ err: describeError(e) }, 'could not tell what pg_rewind will discard'));
    const saved = await this.saveLocalConfigFiles();
    this.logger.info({ source: from }, `running pg_rewind from ${from}`);
    await this.writePgpass({ source, kind: 'rewind' });
    const result = await this.withSslPasswordService('rewind', (service, env) => {
      const conninfo = this.settings.sourceConninfo(source, 'rewind', { connect_timeout: 10 }, service);
      const args = [`--target-pgdata=${this.settings.dataDir}`, `--source-server=${conninfo}`, '--progress'];
      if (this.settings.recoveryConf().restore_command !== undefined) args.push('--restore-target-wal');
      return this.runBinary('pg_rewind', args, { timeoutMs: this.longTimeoutMs, signal, env });
    });
    await this.restoreLocalConfigFiles(saved);
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.RewindFailed, `pg_rewind from ${from} ${describeRun(result)}: ${lastLines(result.output, 4)}`);
    }
    this.role = 'replica';
    this.upstream = source;
    await this.writeConfiguration();
  }

  salvageReports(): readonly SalvageReport[] {
    return this.salvaged;
  }

  /**
   * Before a rewind: the WAL past the point where the source's timeline forked from ours is about
   * to be discarded; decode it and report the committed transactions in it (salvage.ts).
   */
  private async salvage(source: ReplicationSource, signal: AbortSignal | undefined): Promise<void> {
    const position = stoppedPosition(await this.controlData());
    if (!position) return;
    const primary = await this.primaryTimeline(source);
    const fork = primary.history.find((e) => e.timeline === position.timeline);
    if (!fork || position.lsn < fork.lsn) return;
    let report: SalvageReport;
    const decoder = new WaldumpDecoder();
    const args = ['-p', join(this.settings.dataDir, 'pg_wal'), '-t', String(position.timeline), '-s', formatLsn(fork.lsn)];
    try {
      // pg_waldump reads to the end of the valid WAL and then reports the end as an error.
      const result = await this.runBinary('pg_waldump', args, { timeoutMs: this.longTimeoutMs, signal, onLine: (line) => decoder.line(line) });
      if (decoder.lastLsn === null && result.code !== 0) throw new Error(`pg_waldump ${describeRun(result)}: ${lastLines(result.output, 2)}`);
      const end = Math.max(position.lsn, parseLsn(decoder.lastLsn) ?? 0);
      report = { timeline: position.timeline, from: formatLsn(fork.lsn), to: formatLsn(end), bytes: end - fork.lsn, ...decoder.result(), at: new Date().toISOString() };
    } catch (e) {
      report = undecodedSalvage(position.timeline, fork.lsn, position.lsn, describeError(e));
    }
    this.salvaged.push(report);
    if (this.salvaged.length > 20) this.salvaged.shift();
    this.logger.warn({ salvage: report }, describeSalvage(report));
  }

  /**
   * pg_rewind reads the source's timeline from its control file, which changes only at the first
   * checkpoint after promotion: until then it would see "no rewind required". Wait for it (bounded).
   */
  private async waitForSourceCheckpoint(source: ReplicationSource, signal: AbortSignal | undefined): Promise<void> {
    const until = Date.now() + this.settings.pgCtlTimeoutMs;
    const target = { ...this.settings.sourceTarget(source, 'rewind') };
    while (true) {
      throwIfAborted(signal, 'rewind');
      const [row] = await withConnection(target, this.queryTimeoutMs, async (c) =>
        (
          await c.query<{ recovery: boolean; checkpoint: number; current: number | null }>(`SELECT pg_catalog.pg_is_in_recovery() AS recovery,
             (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS checkpoint,
             CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
                  ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS current`)
        ).rows,
      ).catch((e: unknown) => {
        throw new PostgresError(PostgresErrorCode.TimelineCheckFailed, `cannot read the checkpoint timeline of ${source.host}:${source.port}: ${describeError(e)}`);
      });
      if (!row || row.recovery || row.current === null || row.checkpoint >= row.current) return;
      if (Date.now() >= until) {
        throw new PostgresError(PostgresErrorCode.TimelineCheckFailed, `${source.host}:${source.port} has not made a checkpoint on timeline ${row.current} yet; cannot rewind`);
      }
      this.logger.info({ source }, `Waiting for checkpoint on ${source.name ?? source.host} before rewind`);
      await sleep(1000);
    }
  }

  private async saveLocalConfigFiles(): Promise<Map<string, string>> {
    const saved = new Map<string, string>();
    for (const file of ['postgresql.base.conf', 'pg_hba.conf', 'pg_ident.conf']) {
      const path = join(this.settings.dataDir, file);
      const content = await readFile(path, 'utf8').catch(() => null);
      if (content !== null) saved.set(path, content);
    }
    return saved;
  }

  private async restoreLocalConfigFiles(saved: Map<string, string>): Promise<void> {
    for (const [path, content] of saved) await writeOwnedFile(path, content, { mode: 0o600, owner: this.runAs });
  }

  // ---------------------------------------------------------------- slots and synchronous replication

  async listSlots(): Promise<ReplicationSlot[]> {
    const rows = await this.session.query(`SELECT slot_name, slot_type, active, restart_lsn::text AS restart_lsn,
      confirmed_flush_lsn::text AS confirmed_flush_lsn, database, plugin FROM pg_catalog.pg_replication_slots WHERE NOT temporary ORDER BY slot_name`);
    return parseSlots(rows);
  }

  async createPhysicalSlot(name: string): Promise<boolean> {
    const rows = await this.session.query(
      `SELECT pg_catalog.pg_create_physical_replication_slot($1, true) FROM (SELECT 1) s
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`,
      [name],
    );
    if (rows.length > 0) this.logger.info({ slot: name }, 'created physical replication slot');
    return rows.length > 0;
  }

  async dropSlot(name: string): Promise<boolean> {
    for (let attempt = 0; attempt < 20; attempt++) {
      await this.session.query('SELECT pg_catalog.pg_terminate_backend(active_pid) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND active', [name]);
      try {
        const rows = await this.session.query<{ dropped: boolean }>(
          `SELECT pg_catalog.pg_drop_replication_slot(slot_name) IS NULL AS dropped FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
          [name],
        );
        if (rows.length > 0) this.logger.info({ slot: name }, 'dropped replication slot');
        return rows.length > 0;
      } catch (e) {
        // Still active: the terminated walsender has not exited yet.
        if (!/is active/.test(describeError(e)) || attempt === 19) throw e;
        await sleep(100);
      }
    }
    return false;
  }

  async createLogicalSlot(name: string, database: string, plugin: string): Promise<boolean> {
    // A logical slot belongs to a database: create it from a connection to that database.
    const rows = await withConnection({ ...this.settings.localTarget(), database }, this.queryTimeoutMs * 2, async (c) =>
      (
        await c.query(
          `SELECT pg_catalog.pg_create_logical_replication_slot($1, $2) FROM (SELECT 1) s
            WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`,
          [name, plugin],
        )
      ).rows,
    );
    if (rows.length > 0) this.logger.info({ slot: name, database, plugin }, 'created logical replication slot');
    return rows.length > 0;
  }

  async advanceSlot(name: string, database: string | null, lsn: number): Promise<void> {
    // Advancing a logical slot decodes WAL, which needs a connection to the slot's database.
    const target = { ...this.settings.localTarget(), ...(database ? { database } : {}) };
    await withConnection(target, this.queryTimeoutMs * 4, (c) =>
      c.query('SELECT pg_catalog.pg_replication_slot_advance($1, $2::pg_lsn)', [name, formatLsn(lsn)]),
    );
  }

  async readLogicalSlotStates(source: ReplicationSource, names: readonly string[]): Promise<SlotState[]> {
    // pg_read_binary_file of a data directory file needs a superuser.
    const rows = await withConnection(this.settings.sourceTarget(source, 'superuser'), this.queryTimeoutMs * 2, async (c) =>
      (await c.query<{ slot_name: string; state: Buffer; restart_file: string }>(READ_SLOT_STATES_QUERY, [names])).rows,
    );
    const states = rows.map((r) => ({ name: r.slot_name, state: new Uint8Array(r.state), restartFile: r.restart_file }));
    const missing = names.filter((n) => !states.some((x) => x.name === n));
    if (missing.length > 0) throw new Error(`${source.name ?? `${source.host}:${source.port}`} has no logical slot ${missing.join(', ')} (or is not a primary)`);
    return states;
  }

  async installSlotStates(states: readonly SlotState[]): Promise<void> {
    // A copy whose restart position is older than this server's WAL could never be advanced nor
    // decoded: refuse it (no pointless restart); it is copied once the primary's slot moves on.
    const [row] = await this.session.query<{ oldest: string | null }>(OLDEST_WAL_FILE_QUERY);
    const stale = states.filter((slot) => !walStillHere(slot.restartFile, row?.oldest ?? null));
    if (stale.length > 0) {
      throw new PostgresError(
        PostgresErrorCode.SlotCopyNotYet,
        `not copying logical slot ${stale.map((x) => `${x.name} (restart WAL ${x.restartFile})`).join(', ')}: this server's oldest WAL file is ${row?.oldest ?? 'none'}; waiting for the primary's slot to move on`,
      );
    }
    for (const slot of states) {
      await installSlotState(this.settings.dataDir, slot, this.runAs);
      this.logger.info({ slot: slot.name }, 'copied logical replication slot state from the primary; a restart loads it');
    }
  }

  async setSynchronousStandbyNames(spec: SynchronousStandbySpec | null): Promise<string> {
    this.synchronousStandbyNames = spec === null ? null : formatSynchronousStandbyNames(spec);
    this.synchronousStandbyNamesDecided = true;
    const configured = { ...this.settings.dynamic.parameters, ...this.settings.local.parameters }.synchronous_standby_names;
    const value = this.synchronousStandbyNames ?? (configured === undefined ? '' : renderParameterValue(configured));
    this.logger.info({ synchronous_standby_names: value }, `Assigning synchronous_standby_names to ${value === '' ? 'none' : value}`);
    if ((await inspectDataDirectoryPath(this.settings.dataDir, this.runAs)) !== 'initialized') return value;
    await this.writeConfiguration();
    if (this.postmaster) await this.signalReload(this.postmaster);
    return value;
  }

  async close(): Promise<void> {
    if (this.postmaster?.poll) clearInterval(this.postmaster.poll);
    this.session.close();
    // A temporary .pgpass directory goes with this run, unless PostgreSQL still reads it.
    if (this.settings.pgpassLocation?.location.temporary && !this.postmaster) await removePgpassLocation(this.settings.pgpassLocation.location).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.callbacks.idle(), new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
}

/** Parameters whose value differs between two renderings (null = absent). */
function diffParameters(before: EffectiveParameters | null, after: EffectiveParameters): Array<{ name: string; oldValue: string | null; newValue: string | null }> {
  if (!before) return [];
  const names = new Set([...before.file.keys(), ...after.file.keys()]);
  const changes: Array<{ name: string; oldValue: string | null; newValue: string | null }> = [];
  for (const name of [...names].sort()) {
    const oldValue = before.file.get(name) ?? null;
    const newValue = after.file.get(name) ?? null;
    if (oldValue !== newValue) changes.push({ name, oldValue, newValue });
  }
  return changes;
}
