/**
 * The controller's public contract: everything pgha does to the local PostgreSQL server, in
 * domain terms. The HA engine decides; the agent adapts the engine's PostgreSQL port to this
 * interface. The controller decides nothing: every method does exactly what its name says, with a
 * deadline, and reports failures as `PostgresError` with a stable code.
 *
 * Conventions:
 * - LSNs are numbers of bytes (Patroni's DCS form); timeouts are milliseconds unless a config key
 *   says seconds (`pg_ctl_timeout`).
 * - Lifecycle actions (bootstrap, createReplica, start, stop, restart, promote, follow, rewind,
 *   recoverCrash) never overlap: a second one while the first runs throws PG_BUSY.
 *   `state()`, reload, slots and synchronous_standby_names may run at any time.
 * - Every long action takes an `AbortSignal`; aborting ends its external command and throws
 *   PG_ABORTED.
 */
import type { BootstrapSection, DynamicPostgresql, PostgresqlSection } from './config.js';
import type { SynchronousStandbySpec } from './synchronous-standby.js';
import type { TimelineSwitch } from './timeline-history.js';
import type { ControlData } from './control-data.js';
import type { DataDirectoryKind } from './files.js';
import type { SlotState } from './slot-state.js';
import type { SalvageReport } from './salvage.js';

/**
 * Where the local PostgreSQL is in its life, with Patroni's member state strings (they go into the
 * member key's `state` and the REST API unchanged).
 */
export type LifecycleState =
  | 'stopped'
  | 'starting'
  | 'running'
  | 'stopping'
  | 'restarting'
  | 'crashed'
  | 'creating replica'
  | 'initializing new cluster'
  | 'running custom bootstrap script'
  | 'starting after custom bootstrap'
  | 'initdb failed'
  | 'custom bootstrap failed'
  | 'start failed'
  | 'restart failed'
  | 'stop failed';

/** The server a replica streams from, is cloned from, or is rewound against. */
export interface ReplicationSource {
  host: string;
  port: number;
  /** Member name, for logs and error messages. */
  name?: string;
  /**
   * The physical slot on the source that this server streams through (`primary_slot_name`);
   * absent = none. The caller names it: the agent passes the engine's choice, which is this
   * member's slot (`slotNameFromMemberName` of `@pgha/dcs`) unless `use_slots` is off.
   */
  slotName?: string;
  /**
   * Set when the source is another cluster's primary (a standby cluster's leader follows it):
   * stream with this slot (null = none) instead of our member slot, with these recovery settings.
   */
  remote?: { slotName: string | null; recoveryConf: Record<string, string>; createReplicaMethods?: string[] };
  /** The member's `nostream` tag: recover from the archive only, without streaming from the source. */
  noStream?: boolean;
}

/** One walsender connection seen on this server (`pg_stat_replication`). */
export interface ReplicationConnection {
  pid: number;
  usename: string | null;
  applicationName: string;
  clientAddr: string | null;
  /** `streaming`, `catchup`, `startup`, `backup`, `stopping`. */
  state: string | null;
  /** `async`, `potential`, `sync`, `quorum`. */
  syncState: string | null;
  syncPriority: number | null;
  sentLsn: number | null;
  writeLsn: number | null;
  flushLsn: number | null;
  replayLsn: number | null;
}

export interface ReplicationSlot {
  name: string;
  type: 'physical' | 'logical';
  active: boolean;
  restartLsn: number | null;
  confirmedFlushLsn: number | null;
  database: string | null;
  plugin: string | null;
}

/** Old and new value of a parameter waiting for a restart (Patroni's `pending_restart_reason`). */
export type PendingRestartReason = Record<string, { old_value: string; new_value: string }>;

/**
 * The per-cycle snapshot of the local server: one query when it runs; when it does not, what
 * pg_control says (read with pg_controldata only when the control file changed).
 */
export interface PostgresState {
  lifecycle: LifecycleState;
  /** What the data directory holds; `unusable` when it cannot be used (see `dataDirectoryError`). */
  dataDirectory: DataDirectoryKind | 'unusable';
  dataDirectoryError?: string;
  /** A postmaster process exists (started or adopted by this controller). */
  running: boolean;
  postmasterPid: number | null;
  /** The query answered: the server accepts connections. */
  accepting: boolean;
  /** Why the query failed while the postmaster runs (starting up, shutting down, hung). */
  queryError?: string;
  /**
   * Running: `replica` when in recovery, else `primary`. Stopped: the role pg_control records
   * (`shut down in recovery` / `in archive recovery` → replica). `unknown` without a data directory.
   */
  role: 'primary' | 'replica' | 'unknown';
  /** The upstream this controller configured in primary_conninfo (replica), else null. */
  following: ReplicationSource | null;
  /** server_version_num, e.g. 150004. */
  serverVersion: number | null;
  systemIdentifier: string | null;
  /** Patroni's format: `2024-08-28 19:39:26.352526+00:00`. */
  postmasterStartTime: string | null;
  /**
   * Running: the current timeline. Stopped: the timeline of `stoppedLsn` (a replica's minimum
   * recovery point's, else the latest checkpoint's).
   */
  timeline: number | null;
  /**
   * Stopped: where its WAL ends as pg_control tells, as Patroni reads it
   * (`_get_local_timeline_lsn_from_controldata`, control-data.ts `stoppedPosition`): a replica's
   * minimum recovery point — it may have replayed past its last restartpoint, and a rejoin must
   * judge divergence from what it replayed — else the latest checkpoint (the start of that record).
   */
  stoppedLsn: number | null;
  /**
   * The timeline of the latest checkpoint (`pg_control_checkpoint()` running, pg_control stopped).
   * Behind a running primary's `timeline` until the first checkpoint after a promotion, which
   * pg_rewind against this server needs (Patroni's checkpoint_after_promote). Null when unknown.
   */
  checkpointTimeline: number | null;
  /** pg_rewind could work here: data checksums or wal_log_hints on. Null when unknown. */
  rewindPossible: boolean | null;
  /** Primary: the flushed WAL position. */
  currentLsn: number | null;
  /** Replica: last WAL position received (pg_last_wal_receive_lsn). */
  receivedLsn: number | null;
  /** Replica: last WAL position replayed (pg_last_wal_replay_lsn). */
  replayedLsn: number | null;
  /** Replica: commit time of the last replayed transaction (ISO 8601). */
  replayedTimestamp: string | null;
  replayPaused: boolean;
  /** Replica: `streaming` when the WAL receiver streams, `in archive recovery` otherwise (Patroni 3.0.4+). */
  replicationState: 'streaming' | 'in archive recovery' | null;
  /**
   * Replica: its WAL receiver (`pid` and `status` null when none runs) and where the
   * primary_conninfo in effect points (host and port; null on PostgreSQL 10 and 11). Null on a
   * primary or a stopped server.
   */
  walReceiver: {
    pid: number | null;
    status: string | null;
    lastMsgReceiptTime: string | null;
    conninfoHost: string | null;
    conninfoPort: number | null;
  } | null;
  /** Replica: the upstream it streams from, per the WAL receiver. */
  upstream: { host: string | null; port: number | null; slotName: string | null; receivedTimeline: number | null } | null;
  replication: ReplicationConnection[];
  slots: ReplicationSlot[];
  synchronousStandbyNames: string | null;
  pendingRestart: boolean;
  pendingRestartReason: PendingRestartReason;
}

/** What `inspectDataDirectory` finds. */
export interface DataDirectoryInfo {
  kind: DataDirectoryKind;
  path: string;
  /** PG_VERSION (major, e.g. 15) when initialized. */
  majorVersion: number | null;
  /** From pg_controldata when initialized. */
  control: ControlData | null;
  systemIdentifier: string | null;
}

/** One line of a timeline history file, with the file's modification time (Patroni's `history` key). */
export interface TimelineHistoryEntry extends TimelineSwitch {
  /** mtime of the history file (ISO 8601): when the new timeline began. */
  timestamp: string;
}

export interface ConfigurationChange {
  /** Parameters whose value changed, with their pg_settings context (`postmaster` needs a restart). */
  changed: Array<{ name: string; oldValue: string | null; newValue: string | null; context: string | null }>;
  /** pg_hba.conf or pg_ident.conf changed. */
  hbaChanged: boolean;
  /** The server was running and was sent a reload. */
  reloaded: boolean;
  /** Changed parameters that only take effect after a restart. */
  restartRequired: string[];
  pendingRestart: boolean;
  pendingRestartReason: PendingRestartReason;
  /** Configuration problems that were worked around (ignored or replaced values). */
  warnings: string[];
}

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface PostmasterExit {
  pid: number;
  code: number | null;
  signal: string | null;
  /** False when nobody asked it to stop: a crash. */
  expected: boolean;
}

/** Everything pgha does to the local PostgreSQL. */
export interface PostgresController {
  /** The current lifecycle state (no I/O). */
  readonly lifecycle: LifecycleState;

  /**
   * Reads the per-cycle state. When the postmaster runs this is one SQL query with the controller's
   * query deadline; when the query fails `accepting` is false and `queryError` says why. Never
   * throws for a down or hung server.
   */
  state(): Promise<PostgresState>;

  /**
   * Looks at the data directory: missing, empty, initialized (with pg_controldata) or foreign.
   * Throws PG_DATA_DIR when it is unusable (not a directory, wrong owner, unreadable).
   */
  inspectDataDirectory(): Promise<DataDirectoryInfo>;

  /**
   * Adopts a postmaster that already runs on the data directory (after an agent restart), found
   * through postmaster.pid and verified to be a live postgres process. Its exit is then detected by
   * polling the pid. Returns the pid, or null when none runs.
   */
  adopt(): Promise<number | null>;

  /**
   * Creates a new cluster: initdb with `bootstrap.initdb` options (or the custom `bootstrap.method`
   * command), writes the configuration files, starts PostgreSQL as primary, creates the
   * replication and rewind roles and `bootstrap.users`, and runs `post_bootstrap`/`post_init` with
   * a connection URL. Leaves PostgreSQL running. On failure PostgreSQL is stopped and the data
   * directory is moved to `<data_dir>.failed` (never left half-initialised), and PG_BOOTSTRAP_FAILED
   * (or PG_BINARY_NOT_FOUND / PG_DATA_DIR before anything was written) is thrown.
   * Deadline: `bootstrapTimeoutMs` per step.
   */
  bootstrap(options?: { signal?: AbortSignal }): Promise<{ systemIdentifier: string }>;

  /**
   * Fills the empty data directory from `source` with the `create_replica_methods` in order
   * (default `basebackup`: pg_basebackup with `postgresql.basebackup` options, progress logged;
   * custom methods get `--scope --role=replica --datadir --connstring`). With `source` null only
   * methods marked `no_leader` are tried. A failed method's output is cleaned before the next one;
   * when all fail the data directory is removed and PG_REPLICA_FAILED lists each method's error.
   * Does not start PostgreSQL.
   */
  createReplica(options: { source: ReplicationSource | null; signal?: AbortSignal }): Promise<{ method: string }>;

  /**
   * Writes the configuration files for `role` (a replica follows `follow`, or nothing), starts the
   * postmaster and waits until it accepts connections (status ready or standby in postmaster.pid
   * and a query answers), at most `timeoutMs` (default `pg_ctl_timeout`). Fires `on_start`.
   * If a postmaster already runs it is adopted instead. Throws PG_START_FAILED when the postmaster
   * exits (with its last output lines), PG_START_TIMEOUT when the deadline passes (the postmaster
   * is left running: state() will say `starting`).
   */
  start(options: { role: 'primary' | 'replica'; follow?: ReplicationSource | null; timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /**
   * Stops PostgreSQL: runs `before_stop` (synchronously, bounded), optionally CHECKPOINTs first
   * (`checkpoint`, for a faster shutdown of a primary), signals the postmaster (smart SIGTERM,
   * fast SIGINT, immediate SIGQUIT) and waits for it to exit at most `timeoutMs` (default
   * `pg_ctl_timeout`); past that the postmaster's process group is killed (SIGKILL). Fires
   * `on_stop`. A no-op when nothing runs. Throws PG_STOP_FAILED if even SIGKILL did not work.
   */
  stop(options?: { mode?: StopMode; checkpoint?: boolean; timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /**
   * Fencing: SIGQUIT (immediate shutdown), then SIGKILL of the postmaster's process group after
   * `graceMs` (default 2000), *without* waiting for or being refused by a running lifecycle
   * action (promote, start, a demote's CHECKPOINT). Fires no callback. Resolves once the
   * postmaster is gone; throws PG_STOP_FAILED if it cannot be confirmed gone.
   */
  fence(options?: { graceMs?: number }): Promise<void>;

  /** Stops (fast by default) and starts in the same role, firing `on_restart` (not on_stop/on_start). */
  restart(options?: { mode?: StopMode; timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /** Rewrites the configuration files and makes the postmaster reload them; fires `on_reload`. */
  reload(): Promise<ConfigurationChange>;

  /**
   * Replaces the local section and/or the dynamic configuration, rewrites the files, and when
   * PostgreSQL runs reloads it and reports which changed parameters need a restart (asking
   * PostgreSQL: `pg_settings.context`, `pending_restart`). Never restarts by itself.
   */
  updateConfiguration(next: { postgresql?: PostgresqlSection; dynamic?: DynamicPostgresql; bootstrap?: BootstrapSection }): Promise<ConfigurationChange>;

  /**
   * Promotes a running replica: runs `pre_promote` synchronously (bounded; non-zero exit throws
   * PG_PRE_PROMOTE_FAILED and nothing is promoted), asks for promotion without waiting for a
   * checkpoint (`pg_promote(wait => false)`), then polls until recovery has ended, at most
   * `timeoutMs`. Fires `on_role_change` with the primary role. No-op on a primary.
   */
  promote(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /**
   * Points a running replica at another upstream: rewrites primary_conninfo / primary_slot_name
   * and reloads (PostgreSQL 13+), or restarts (12).
   */
  follow(source: ReplicationSource | null, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /**
   * Makes a running replica's WAL receiver `pid` exit (SIGTERM) so that the startup process starts
   * a new one, which connects afresh. Checks first that `pid` is still the receiver in
   * pg_stat_wal_receiver; resolves false when it is not (or the server is down).
   */
  restartWalReceiver(pid: number): Promise<boolean>;

  /**
   * Rewinds the stopped data directory to `source` with pg_rewind. Throws PG_REWIND_IMPOSSIBLE when
   * `use_pg_rewind` is off or neither data checksums nor wal_log_hints are on; PG_REWIND_FAILED
   * when pg_rewind fails. Waits (bounded) for the source's first checkpoint on its new timeline.
   * Keeps the local postgresql.base.conf, pg_hba.conf and pg_ident.conf.
   */
  rewind(source: ReplicationSource, options?: { signal?: AbortSignal }): Promise<void>;

  /** Runs crash recovery in single-user mode on a stopped data directory that did not shut down cleanly. */
  recoverCrash(options?: { signal?: AbortSignal }): Promise<void>;

  /** Issues CHECKPOINT (after promotion, before a graceful stop). */
  checkpoint(options?: { timeoutMs?: number }): Promise<void>;

  /**
   * Reads `pg_wal/<timeline>.history` (default: the current timeline) parsed into entries, each with
   * the file's mtime. Empty for timeline 1 or a missing file.
   */
  readTimelineHistory(timeline?: number): Promise<TimelineHistoryEntry[]>;

  /** Physical and logical slots on this server. */
  listSlots(): Promise<ReplicationSlot[]>;
  /** Creates a physical slot reserving WAL now; no-op when it exists. Returns true when created. */
  createPhysicalSlot(name: string): Promise<boolean>;
  /** Drops a slot, terminating its walsender first when active. Returns true when dropped. */
  dropSlot(name: string): Promise<boolean>;
  /** Creates a logical slot in `database` with output `plugin` (primary only); no-op when it exists. Returns true when created. */
  createLogicalSlot(name: string, database: string, plugin: string): Promise<boolean>;
  /**
   * Moves a slot forward to `lsn` (bytes) with `pg_replication_slot_advance`, connected to the
   * slot's `database` (logical slots); in recovery PostgreSQL stops at the replayed position.
   */
  advanceSlot(name: string, database: string | null, lsn: number): Promise<void>;
  /**
   * Reads the on-disk state of the named logical slots from `source`, a primary (superuser
   * connection). Throws when one of them is missing there.
   */
  readLogicalSlotStates(source: ReplicationSource, names: readonly string[]): Promise<SlotState[]>;
  /**
   * Writes slot states into this data directory's `pg_replslot`, where the next start of
   * PostgreSQL loads them (how a PostgreSQL 15 standby gets a logical slot). Does not restart.
   */
  installSlotStates(states: readonly SlotState[]): Promise<void>;
  /**
   * Sets `synchronous_standby_names` in postgresql.conf and reloads: an empty list means no
   * synchronous standby; null stops managing it (the value from `parameters`, if any, applies
   * again). Returns the value now in effect.
   */
  setSynchronousStandbyNames(spec: SynchronousStandbySpec | null): Promise<string>;

  /** Removes the data directory (for reinitialize); PostgreSQL must be stopped. */
  removeDataDirectory(): Promise<void>;

  /**
   * Registers a listener called the moment the postmaster exits (child exit event when this
   * controller started it; pid polling when adopted). Returns the unsubscribe function.
   */
  onPostmasterExit(listener: (exit: PostmasterExit) => void): () => void;

  /**
   * What the rewinds of this controller discarded (salvage.ts), the newest last: the WAL range
   * each `rewind` threw away and the committed transactions and relations in it, decoded with
   * `pg_waldump` before `pg_rewind` ran. Kept in memory (the last 20) and logged.
   */
  salvageReports(): readonly SalvageReport[];

  /** Waits for running callbacks (bounded) and releases connections and watchers. Leaves PostgreSQL as it is. */
  close(): Promise<void>;
}
