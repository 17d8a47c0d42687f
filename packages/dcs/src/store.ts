/**
 * The cluster store: the typed face of a DCS driver. It owns Patroni's JSON for every key (via
 * `codec/`) and the steps every driver shares (Patroni's `update_leader` writing `/status`
 * after a renewal, `touch_member` skipping unchanged values), so drivers stay thin.
 *
 * Outcomes follow the driver contract (`driver.ts`): a lost race or failed CAS resolves `false`;
 * an unreachable DCS rejects with `DcsError` `DCS_UNAVAILABLE`; every call has a deadline.
 */
import type { CallOptions, DcsDriver, DcsTiming, SessionHold, WatchEvent } from './driver.js';
import type {
  Cluster,
  ClusterConfig,
  Failover,
  Failsafe,
  MemberData,
  Status,
  SyncState,
  TimelineHistory,
} from './model.js';

/** How member JSON is written for other readers. */
export interface WriteCompatibility {
  /**
   * Write the primary's role as `master` (Patroni ≤ 3.x, which Patroni 4 also reads) instead of
   * `primary`. Default true, so a cluster mixing Patroni 3.0.2 and pgha members agrees on roles.
   */
  legacyPrimaryRole: boolean;
}

export interface ClusterStore {
  readonly driver: DcsDriver;
  /** This member's name. */
  readonly name: string;

  /**
   * One consistent read of the cluster, parsed leniently: a malformed value becomes null (or a
   * member with empty data) and a line in `warnings`, never an exception. Remembers what our
   * own member key held, for `touchMember`.
   */
  loadCluster(options?: CallOptions): Promise<Cluster>;

  /** Create-if-absent race for `leader` (see DcsDriver.acquireLeader). */
  acquireLeader(options?: CallOptions): Promise<boolean>;

  /**
   * Renews the lock (DcsDriver.renewLeader) and, only if that succeeded and `status` is given,
   * then writes the `status` key when it differs from what was last written. Resolves with the
   * renewal's outcome; a failed status write after a successful renewal is logged, not thrown.
   */
  updateLeader(status?: Status, options?: CallOptions): Promise<boolean>;

  /** Deletes `leader` if we hold it (DcsDriver.releaseLeader). */
  releaseLeader(options?: CallOptions): Promise<boolean>;

  /**
   * Writes our member key with Patroni's member JSON, unless the last load (or the last write)
   * showed exactly the same value. `force` writes regardless. `compatibility` overrides the
   * store's own for this write (the engine follows the dialect the cluster speaks, cycle by cycle).
   */
  touchMember(data: MemberData, options?: CallOptions & { force?: boolean; compatibility?: Partial<WriteCompatibility> }): Promise<void>;

  /** Deletes another member's key (cluster maintenance). */
  deleteMember(name: string, options?: CallOptions): Promise<boolean>;

  /**
   * Bootstrap race: creates `initialize` = "" if absent. True = we won and may initdb; false =
   * someone else is (or was) initialising.
   */
  attemptToInitialize(options?: CallOptions): Promise<boolean>;

  /**
   * Records the system identifier in `initialize` after a successful bootstrap (or when adopting
   * an existing data directory). `expectVersion` is the version of the key read before, or
   * null to create it if absent.
   */
  setInitialize(sysid: string, expectVersion: string | null, options?: CallOptions): Promise<boolean>;

  /** Deletes `initialize` (a failed bootstrap), unconditionally. */
  cancelInitialization(options?: CallOptions): Promise<boolean>;

  /** CAS write of the dynamic config. `expectVersion` null = only if absent; undefined = unconditional (PUT /config). */
  setConfig(config: ClusterConfig, expectVersion?: string | null, options?: CallOptions): Promise<boolean>;

  /** CAS write of the `failover` key (switchover / failover request). */
  setFailover(failover: Failover, expectVersion?: string | null, options?: CallOptions): Promise<boolean>;

  /** Clears the `failover` key (Patroni writes `{}`; readers treat `{}` and absent alike). */
  clearFailover(expectVersion?: string, options?: CallOptions): Promise<boolean>;

  /** CAS write of the `sync` key. */
  setSync(sync: SyncState, expectVersion?: string | null, options?: CallOptions): Promise<boolean>;

  /** Removes the `sync` key (synchronous mode turned off). */
  deleteSync(expectVersion?: string, options?: CallOptions): Promise<boolean>;

  /** Writes the timeline `history` key (leader only, after promotion). */
  setHistory(history: TimelineHistory, expectVersion?: string | null, options?: CallOptions): Promise<boolean>;

  /** Writes the `status` key unconditionally. */
  setStatus(status: Status, options?: CallOptions): Promise<boolean>;

  /** Writes the `failsafe` key unconditionally (failsafe_mode on), or deletes it with null. */
  setFailsafe(failsafe: Failsafe | null, options?: CallOptions): Promise<boolean>;

  /** Deletes every key of the cluster. */
  deleteCluster(options?: CallOptions): Promise<void>;

  /** Wake-up on leader / config changes (DcsDriver.watch). */
  watch(listener: (event: WatchEvent) => void): () => void;

  /** DcsDriver.hold(). */
  hold(): SessionHold;

  /** DcsDriver.setTiming(). */
  setTiming(timing: DcsTiming): Promise<void>;

  /** DcsDriver.close(). */
  close(options?: { revoke?: boolean }): Promise<void>;
}
