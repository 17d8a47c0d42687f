/**
 * The ports: what the HA loop needs from the outside world, as interfaces. The agent adapts the
 * real implementations (`@pgha/postgres-controller`, `@pgha/watchdog`, an HTTP client) to them;
 * tests and the simulation use fakes. The engine itself never touches a process, file or socket.
 *
 * Cancellation and deadlines. Every method that may take long receives an AbortSignal. When it
 * fires, the method must stop what it is doing as soon as it safely can and settle (reject) —
 * in particular a start or restart must not leave a postmaster behind that starts up after the
 * abort. The loop also bounds every call it waits for with its own deadline, so a port that
 * hangs delays nothing but itself.
 */
import type { ClusterConfig, TimelineHistory, Versioned } from '@pgha/dcs';
import type { FollowTarget, SlotPlan, SlotSyncReport, StopMode, SynchronousStandbySetting } from '../core/actions.js';
import type { FailsafeAck, LocalPostgresState, PeerStatus } from '../core/snapshot.js';

// Time, for the loop, the safety deadline and the deadlines of calls: the shared Clock (monotonic
// `now`, `wallNow`, `sleep`) and its real implementation, defined once in @pgha/primitives.
export { nodeClock, type Clock } from '@pgha/dcs';

/** Options of `PostgresPort.start`. */
export interface StartOptions {
  role: 'primary' | 'replica';
  /** The member to stream from (replica); null = no `primary_conninfo` (read-only, standalone). */
  follow: FollowTarget | null;
  /** Reject if PostgreSQL does not accept connections within this many ms (leave it running). */
  timeoutMs: number;
}

/** Options of `PostgresPort.stop`. */
export interface StopOptions {
  mode: StopMode;
  /** Run a CHECKPOINT before stopping (graceful demote: shortens the shutdown checkpoint). */
  checkpoint?: boolean;
  /** Kill PostgreSQL (SIGKILL to its processes) when it has not stopped by then (primary_stop_timeout). */
  timeoutMs?: number;
}

/**
 * Everything the engine does to the local PostgreSQL. Methods resolve when done and reject
 * (with an Error whose message says what failed and where) when not.
 */
export interface PostgresPort {
  /**
   * One read of the local state (a query while running, pg_control while stopped). Should
   * answer within a second or two; the loop gives up after `retry_timeout` and treats the state
   * as unknown for that cycle.
   */
  state(signal: AbortSignal): Promise<LocalPostgresState>;

  /**
   * Creates a new cluster: initdb (or the configured custom bootstrap), start as primary, wait
   * for recovery to end, run post_bootstrap and create users. Resolves with PostgreSQL running
   * as primary. On failure leaves no half-initialised data directory in place (moved aside).
   */
  bootstrap(signal: AbortSignal): Promise<void>;

  /**
   * Fills the (empty) data directory from `source` (pg_basebackup or the configured
   * create_replica_methods). Does not start PostgreSQL. On failure leaves the directory empty.
   */
  createReplica(source: FollowTarget, signal: AbortSignal): Promise<void>;

  /** Starts PostgreSQL (writing the standby configuration for a replica). */
  start(options: StartOptions, signal: AbortSignal): Promise<void>;

  /** Stops PostgreSQL; resolves once the postmaster is gone. Resolves at once when not running. */
  stop(options: StopOptions, signal: AbortSignal): Promise<void>;

  /**
   * Fencing (the lock holder's safety deadline passed): stops PostgreSQL at once — an immediate
   * shutdown, then a kill of its processes — whatever other action is running on it. Unlike
   * `stop` it must not wait for, or be refused because of, a promote, a start or a demote's
   * CHECKPOINT in progress: those hold the server for up to pg_ctl_timeout, far longer than the
   * safety margin. Resolves once the postmaster is confirmed gone (at once when not running);
   * rejects when that cannot be confirmed. The loop calls it again until it resolves.
   */
  fence(signal: AbortSignal): Promise<void>;

  /** Restarts PostgreSQL in its current role. */
  restart(signal: AbortSignal): Promise<void>;

  /** Promotes a replica; resolves once promotion is requested and confirmed, without waiting for a checkpoint. */
  promote(signal: AbortSignal): Promise<void>;

  /**
   * Restarts a running replica's WAL receiver: signals process `pid` (the receiver the last state
   * read reported) to exit, after checking it is still this server's WAL receiver; the startup
   * process starts a new one. Resolves false when no such receiver runs any more.
   */
  restartWalReceiver(pid: number, signal: AbortSignal): Promise<boolean>;
  /**
   * Runs a CHECKPOINT on the running server (the engine's `checkpoint` action, after a
   * promotion), bounded by the port's own timeout; rejects when it failed.
   */
  checkpoint(signal: AbortSignal): Promise<void>;

  /** Points a running replica's `primary_conninfo` at `target` (reload or restart as needed). */
  follow(target: FollowTarget | null, signal: AbortSignal): Promise<void>;

  /**
   * Runs pg_rewind against `source` (stopping PostgreSQL first, with crash recovery if it was not
   * shut down cleanly). Leaves PostgreSQL stopped with a standby configuration.
   */
  rewind(source: FollowTarget, signal: AbortSignal): Promise<void>;

  /** Removes (or moves aside) the data directory, for a re-clone. PostgreSQL must be stopped. */
  removeDataDirectory(signal: AbortSignal): Promise<void>;

  /**
   * Carries out a slot plan: drops, then creates, then advances, each step on its own; a failed
   * step does not stop the others. Resolves with what failed (the engine decides what follows,
   * core/slots.ts slotRepairPlan); rejects only when the plan could not be attempted at all.
   */
  syncSlots(plan: SlotPlan, signal: AbortSignal): Promise<SlotSyncReport>;

  /**
   * Reads the state of the named logical slots from `source` (the primary) and writes them into
   * this data directory's `pg_replslot`, where the next start loads them. The server keeps
   * running; the caller restarts it. Rejects when `source` lacks one of them.
   */
  copyLogicalSlots(source: FollowTarget, slots: string[], signal: AbortSignal): Promise<void>;

  /**
   * Sets `synchronous_standby_names` in the configuration and reloads PostgreSQL (no restart);
   * null stops managing it (the configured parameter, if any, applies again). Resolves once the
   * reload has been requested; works while stopped too (applies at the next start).
   */
  setSynchronousStandbyNames(setting: SynchronousStandbySetting | null, signal: AbortSignal): Promise<void>;

  /**
   * The timeline history of the current timeline, from `pg_wal/<tl>.history`: one entry per
   * switch, with the file's modification time as `timestamp` (ISO 8601) where known.
   */
  timelineHistory(signal: AbortSignal): Promise<TimelineHistory>;

  /**
   * Applies a dynamic configuration (the DCS `config` key as stored) to PostgreSQL: the part of
   * its `postgresql` section that may apply (core/dynamic-postgresql.ts), sanitized, written and
   * reloaded. Called when a read shows a version not applied yet, before the cycle decides.
   * Resolves true once applied (the version then counts as applied), false to be called again
   * at the next read; never needs to reject. Optional: without it the settings stay as started.
   */
  applyDynamicConfig?(config: Versioned<ClusterConfig>, signal: AbortSignal): Promise<boolean>;
}

/** Who to probe: a member's name and its `api_url` (`http://host:8008/patroni`). */
export interface PeerTarget {
  name: string;
  apiUrl: string;
}

/**
 * Asks other members' REST APIs for their status (`GET <api_url>`), all in parallel, each with
 * a short deadline. Resolves with one PeerStatus per target, in any order; a member that does not
 * answer in time or answers garbage is `reachable: false`. Never rejects.
 */
export interface PeerProbe {
  probe(targets: PeerTarget[], options: { timeoutMs: number; signal: AbortSignal }): Promise<PeerStatus[]>;
  /**
   * Failsafe mode: `POST /failsafe` with `payload` to every target (the URL is the target's
   * `api_url` with its last path segment replaced by `failsafe`), all in parallel, each bounded by
   * `timeoutMs`. A member acknowledges with 200 `Accepted`; anything else, or no answer, is
   * `accepted: false`. Resolves with one FailsafeAck per target; never rejects. Without this
   * method no member can acknowledge, and a primary cut off from the DCS demotes as usual.
   */
  postFailsafe?(targets: PeerTarget[], payload: FailsafePayload, options: { timeoutMs: number; signal: AbortSignal }): Promise<FailsafeAck[]>;
}

/** The body of `POST /failsafe`, field for field as Patroni sends it. */
export interface FailsafePayload {
  name: string;
  conn_url: string;
  api_url: string;
  slots?: Record<string, number>;
}

/**
 * The watchdog (Patroni's `watchdog` section): armed while this member may be a writable
 * primary, kicked after every successful lock renewal, so the machine resets if the agent hangs.
 */
export interface WatchdogPort {
  /**
   * Arms the watchdog (if the mode asks for one). Resolves false only when the mode requires a
   * watchdog and it cannot be armed: the member must not become primary then.
   */
  activate(): Promise<boolean>;
  /** Kicks the watchdog; no-op when not armed. */
  keepalive(): Promise<void>;
  /** Disarms it (magic close); no-op when not armed. */
  disable(): Promise<void>;
  /** False when the mode requires a watchdog that cannot work (peers then skip this member). */
  readonly healthy: boolean;
}

/** A watchdog that does nothing (`watchdog.mode: off`). */
export const nullWatchdog: WatchdogPort = {
  activate: async () => true,
  keepalive: async () => {},
  disable: async () => {},
  healthy: true,
};
