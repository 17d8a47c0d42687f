/**
 * The controller: one instance per agent, acting on the local data directory. See contract.ts for
 * what each method promises. This façade takes the lifecycle lock (ControllerState.exclusive) for
 * the actions that need it and hands each call to the part that does it:
 *
 * - programs.ts        running the PostgreSQL programs; the server version; pg_control
 * - config-writer.ts   postgresql.conf, pg_hba/pg_ident, .pgpass, the signal files
 * - postmaster.ts      start, stop, fence, reload, adopt, exit tracking
 * - state-reader.ts    what the server is (state(), the data directory, timeline history)
 * - role-change.ts     promote, follow
 * - reconfigure.ts     a reload of the configuration, synchronous_standby_names
 * - bootstrap.ts       initdb or a custom bootstrap
 * - create-replica.ts  pg_basebackup or custom replica methods
 * - rewind.ts          pg_rewind, crash recovery, salvage reports
 * - slots.ts           physical and logical slots
 *
 * The state several parts change (lifecycle, role, upstream, the action in progress) is the one
 * ControllerState in controller-context.ts; everything else is owned by its part.
 */
import type { BootstrapSection, DynamicPostgresql, PostgresqlSection } from './config.js';
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
import { Bootstrap } from './bootstrap.js';
import { ConfigWriter } from './config-writer.js';
import { createControllerContext, type ControllerContext, type ControllerState } from './controller-context.js';
import { ReplicaCreator } from './create-replica.js';
import { PostgresError, PostgresErrorCode, isPostgresError } from './errors.js';
import { removeTree, type RunAs } from './files.js';
import type { Logger } from './logger.js';
import { removePgpassLocation } from './pgpass-file.js';
import { Postmaster } from './postmaster.js';
import type { ProcessRunner } from './process-runner.js';
import { Programs } from './programs.js';
import { Reconfigure } from './reconfigure.js';
import { Rewinder } from './rewind.js';
import { RoleChange } from './role-change.js';
import type { SalvageReport } from './salvage.js';
import type { SlotState } from './slot-state.js';
import { Slots } from './slots.js';
import { StateReader } from './state-reader.js';
import type { SynchronousStandbySpec } from './synchronous-standby.js';

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
  /**
   * Role name passed to callbacks for a primary: Patroni 4 says `primary`, 3.x said `master`.
   * Default `primary`. A function is asked at each callback, for an agent that follows the names
   * its cluster speaks.
   */
  primaryRoleName?: PrimaryRoleName | (() => PrimaryRoleName);
}

/** A primary's role as Patroni 4 (`primary`) or Patroni ≤ 3.x (`master`) names it. */
export type PrimaryRoleName = 'primary' | 'master';

/** Creates the controller. No I/O happens until a method is called. */
export function createPostgresController(options: PostgresControllerOptions): PostgresController {
  return new LocalPostgresController(options);
}

class LocalPostgresController implements PostgresController {
  private readonly ctx: ControllerContext;
  private readonly state_: ControllerState;
  private readonly postmaster: Postmaster;
  private readonly reader: StateReader;
  private readonly roleChange: RoleChange;
  private readonly reconfigure: Reconfigure;
  private readonly bootstrapper: Bootstrap;
  private readonly replicaCreator: ReplicaCreator;
  private readonly rewinder: Rewinder;
  private readonly slots: Slots;

  constructor(options: PostgresControllerOptions) {
    this.ctx = createControllerContext(options);
    this.state_ = this.ctx.state;
    const programs = new Programs(this.ctx);
    const config = new ConfigWriter(this.ctx, programs);
    this.postmaster = new Postmaster(this.ctx, programs, config);
    const parts = { ctx: this.ctx, programs, config, postmaster: this.postmaster };
    this.reader = new StateReader(parts);
    this.roleChange = new RoleChange(parts);
    this.reconfigure = new Reconfigure(this.ctx, config, this.postmaster);
    this.bootstrapper = new Bootstrap(parts);
    this.replicaCreator = new ReplicaCreator(parts);
    this.rewinder = new Rewinder(parts);
    this.slots = new Slots(this.ctx);
  }

  get lifecycle(): LifecycleState {
    return this.state_.lifecycle;
  }

  // ---------------------------------------------------------------- state and data directory

  state(): Promise<PostgresState> {
    return this.reader.state();
  }

  inspectDataDirectory(): Promise<DataDirectoryInfo> {
    return this.reader.inspectDataDirectory();
  }

  readTimelineHistory(timeline?: number): Promise<TimelineHistoryEntry[]> {
    return this.reader.readTimelineHistory(timeline);
  }

  async removeDataDirectory(): Promise<void> {
    const { settings, logger } = this.ctx;
    if (this.postmaster.current) throw new PostgresError(PostgresErrorCode.Busy, `cannot remove ${settings.dataDir}: PostgreSQL is running`);
    logger.warn({ dataDir: settings.dataDir }, 'removing data directory');
    await removeTree(settings.dataDir);
  }

  salvageReports(): readonly SalvageReport[] {
    return this.rewinder.salvageReports;
  }

  // ---------------------------------------------------------------- lifecycle

  onPostmasterExit(listener: (exit: PostmasterExit) => void): () => void {
    return this.postmaster.onExit(listener);
  }

  adopt(): Promise<number | null> {
    return this.postmaster.adopt();
  }

  start(options: { role: 'primary' | 'replica'; follow?: ReplicationSource | null; timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return this.state_.exclusive('start', async () => {
      // Patroni: a server this agent ran as the primary, started again as a replica (the second
      // half of a demotion), fires on_role_change rather than on_start.
      const callback = this.state_.role === 'primary' && options.role === 'replica' ? 'on_role_change' : 'on_start';
      this.state_.role = options.role;
      this.state_.upstream = options.role === 'replica' ? (options.follow ?? null) : null;
      await this.postmaster.start({ timeoutMs: options.timeoutMs, signal: options.signal, callback });
    });
  }

  stop(options: { mode?: StopMode; checkpoint?: boolean; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.state_.exclusive('stop', () => this.postmaster.stop({ ...options, callback: 'on_stop' }));
  }

  /**
   * Fencing (the lock holder's safety deadline passed) stops the postmaster *without* the
   * lifecycle lock: a promote, a start or a demote's CHECKPOINT holds that lock for up to
   * pg_ctl_timeout, and `stop` would be refused (PG_BUSY) all that time while the server may take
   * writes with the lease running out. The action that held the lock then fails on its own (its
   * server is gone); the caller aborts it as well.
   */
  fence(options: { graceMs?: number } = {}): Promise<void> {
    return this.postmaster.fence(options);
  }

  restart(options: { mode?: StopMode; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.state_.exclusive('restart', async () => {
      try {
        await this.postmaster.stop({ mode: options.mode, timeoutMs: options.timeoutMs, callback: null });
        this.state_.lifecycle = 'restarting';
        await this.postmaster.start({ timeoutMs: options.timeoutMs, signal: options.signal, callback: 'on_restart' });
      } catch (e) {
        // A start that timed out leaves a server still coming up, not a failed restart.
        if (!isPostgresError(e, PostgresErrorCode.StartTimeout)) this.state_.lifecycle = 'restart failed';
        throw e;
      }
    });
  }

  reload(): Promise<ConfigurationChange> {
    return this.reconfigure.update({});
  }

  updateConfiguration(next: { postgresql?: PostgresqlSection; dynamic?: DynamicPostgresql; bootstrap?: BootstrapSection }): Promise<ConfigurationChange> {
    return this.reconfigure.update(next);
  }

  setSynchronousStandbyNames(spec: SynchronousStandbySpec | null): Promise<string> {
    return this.reconfigure.setSynchronousStandbyNames(spec);
  }

  checkpoint(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.postmaster.checkpoint(options);
  }

  promote(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.state_.exclusive('promote', () => this.roleChange.promote(options));
  }

  follow(source: ReplicationSource | null, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.state_.exclusive('follow', () => this.roleChange.follow(source, options));
  }

  restartWalReceiver(pid: number): Promise<boolean> {
    return this.roleChange.restartWalReceiver(pid);
  }

  // ---------------------------------------------------------------- new data directories, rewind

  bootstrap(options: { signal?: AbortSignal } = {}): Promise<{ systemIdentifier: string }> {
    return this.state_.exclusive('bootstrap', () => this.bootstrapper.run(options));
  }

  createReplica(options: { source: ReplicationSource | null; signal?: AbortSignal }): Promise<{ method: string }> {
    return this.state_.exclusive('create replica', () => this.replicaCreator.run(options));
  }

  recoverCrash(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.state_.exclusive('crash recovery', () => this.rewinder.recoverCrash(options.signal));
  }

  rewind(source: ReplicationSource, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.state_.exclusive('rewind', () => this.rewinder.rewind(source, options.signal));
  }

  // ---------------------------------------------------------------- slots

  listSlots(): Promise<ReplicationSlot[]> {
    return this.slots.list();
  }

  createPhysicalSlot(name: string): Promise<boolean> {
    return this.slots.createPhysical(name);
  }

  dropSlot(name: string): Promise<boolean> {
    return this.slots.drop(name);
  }

  createLogicalSlot(name: string, database: string, plugin: string): Promise<boolean> {
    return this.slots.createLogical(name, database, plugin);
  }

  advanceSlot(name: string, database: string | null, lsn: number): Promise<void> {
    return this.slots.advance(name, database, lsn);
  }

  readLogicalSlotStates(source: ReplicationSource, names: readonly string[]): Promise<SlotState[]> {
    return this.slots.readLogicalStates(source, names);
  }

  installSlotStates(states: readonly SlotState[]): Promise<void> {
    return this.slots.installStates(states);
  }

  async close(): Promise<void> {
    const { settings, session, callbacks } = this.ctx;
    this.postmaster.close();
    session.close();
    // A temporary .pgpass directory goes with this run, unless PostgreSQL still reads it.
    if (settings.pgpassLocation?.location.temporary && !this.postmaster.current) await removePgpassLocation(settings.pgpassLocation.location).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([callbacks.idle(), new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
}
