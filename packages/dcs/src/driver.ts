/**
 * The DCS driver contract: what every driver (etcd, ZooKeeper, the in-memory one, a third party's)
 * promises. The agent and the engine see a driver only through this interface and the
 * `ClusterStore` built on it, so a driver that passes the conformance suite in
 * `@pgha/dcs/testing` can replace any other.
 *
 * Vocabulary.
 * - Keys are named relative to the cluster prefix `/<namespace>/<scope>/` (see `keys.ts`):
 *   `leader`, `members/<name>`, `config`, ... Values are the exact strings Patroni writes.
 * - The *session* is the driver's liveness token: an etcd lease or a ZooKeeper session. The
 *   `leader` key and this member's own `members/<name>` key are *ephemeral*: attached to the
 *   session, they disappear when it expires. Every other key is persistent.
 * - A *version* is the opaque string the backend uses for compare-and-set (etcd `mod_revision`,
 *   ZooKeeper `stat.version`). It changes on every write of the key, also when the value written
 *   is the same; versions of different keys are not comparable.
 *
 * Outcomes. Every method either
 * - resolves with its result; a lost race or a failed condition is a normal result (`false`),
 *   never an exception; or
 * - rejects with a `DcsError`: `DCS_UNAVAILABLE` when the DCS could not be reached or did not
 *   answer before the call's deadline (the write may or may not have happened: drivers that can
 *   tell by reading back do so before giving up), `DCS_CLOSED` after `close()`, `DCS_REJECTED`
 *   for auth or permission failures.
 *
 * Deadlines. Every call finishes (resolves or rejects) within `timeoutMs` of being called (default:
 * the driver's `retryTimeout`), whatever the network or server does. A driver may retry inside
 * that budget (rotating endpoints), never beyond it. Late answers from the backend are ignored.
 *
 * Concurrency. Calls may be issued concurrently; each is atomic on its own. There are no
 * multi-key transactions in the contract.
 */
import type { MonotonicClock } from './clock.js';
import type { Logger } from './logger.js';

/** Persistent keys written with compare-and-set. */
export type StoredKey = 'initialize' | 'config' | 'failover' | 'sync' | 'history' | 'status' | 'failsafe';

/** One key as stored in the DCS. */
export interface RawNode {
  /** The value exactly as stored (UTF-8). */
  value: string;
  /** Opaque CAS version. */
  version: string;
  /** For ephemeral keys: the session / lease id that owns it, when the backend reports one. */
  owner?: string;
}

/** What `load()` returns: every key under the cluster prefix, by relative name. */
export interface RawCluster {
  nodes: Map<string, RawNode>;
}

/** The condition a compare-and-set write or delete requires. */
export type Expectation =
  /** The key must not exist (create-if-absent). */
  | { kind: 'absent' }
  /** The key must exist with exactly this version. */
  | { kind: 'version'; version: string }
  /** No condition: overwrite or create. */
  | { kind: 'any' };

export interface CallOptions {
  /** Deadline for this call in milliseconds from now. Default: the driver's `retryTimeout`. */
  timeoutMs?: number;
}

/** The timing settings a driver needs, in seconds as in Patroni's config. */
export interface DcsTiming {
  /** Session / lease time to live. */
  ttl: number;
  /** Seconds between HA cycles (used to size keepalive and ping intervals). */
  loopWait: number;
  /** The default deadline of one call. */
  retryTimeout: number;
}

/** What a driver factory receives. */
export interface DriverOptions extends DcsTiming {
  /** Default `/service`. */
  namespace: string;
  scope: string;
  /** This member's name (owner of `members/<name>` and, when it holds it, of `leader`). */
  name: string;
  /** The driver's own config section, as read from the YAML (for example the `etcd3:` map). */
  section: Record<string, unknown>;
  clock: MonotonicClock;
  logger: Logger;
}

/** A change notification: which key changed. Carries no value: the listener re-reads. */
export interface WatchEvent {
  /**
   * The relative name of the changed key (`leader`, `config`, `members/pg1`), or `*` when the
   * driver cannot tell which keys changed (the spurious event after a watch was re-established).
   */
  key: string;
  /**
   * The change created the key (it did not exist before). Optional: drivers that cannot tell
   * leave it out. The leader wakes on a member key's creation, to make that member's slot at once.
   */
  created?: boolean;
}

/**
 * The lock-holder's proof of life. `validUntil` is the last monotonic millisecond at which the
 * session is certainly still alive on the server: the send time of the last successful round
 * trip that refreshed it, plus the (granted or negotiated) ttl. Null before the first such round
 * trip or after the session is known lost. Drivers compute it from their own clock readings,
 * never from library "lost" events, which arrive late.
 */
export interface SessionHold {
  validUntil: number | null;
  /** The ttl in seconds the server actually granted or negotiated. */
  ttl: number;
}

/** What DcsDriver.reconfigure did. */
export interface DriverReconfiguration {
  /** Human-readable changes applied (`etcd3.hosts: 10.0.0.1:2379 → 10.0.0.1:2379,10.0.0.2:2379`). */
  applied: string[];
  /** Keys whose change needs an agent restart, each with the reason. */
  restartRequired: string[];
}

export interface DcsDriver {
  /** Short name of the backend for logs and metrics (`etcd3`, `zookeeper`, `memory`, ...). */
  readonly kind: string;
  /** The absolute cluster prefix, `/<namespace>/<scope>/`. */
  readonly prefix: string;

  /**
   * Reads every key under the prefix in one consistent snapshot (a single range read, or a
   * watch-fed cache that is at least as fresh as the last write this driver made). Keys under
   * other scopes are not included, also not those of a scope whose name starts with ours (`ab`
   * when we are `a`). `nodes` is keyed by relative name (`leader`, `members/pg0`,
   * `optime/leader`) and lists only keys that hold a value: no directory entries (such as
   * ZooKeeper's `members` znode). A value may be `""` (`initialize` during bootstrap).
   *
   * Session upkeep: the HA loop calls `load()` every cycle but writes its member key only when
   * the value changed, so a driver whose session needs refreshing by the client (an etcd lease)
   * refreshes it as part of `load()` (at most once per `loopWait`, never failing the read
   * because of it). A member that keeps calling `load()` keeps its ephemeral keys.
   */
  load(options?: CallOptions): Promise<RawCluster>;

  /**
   * Atomically creates `leader` = this member's name, attached to the session, only if no
   * `leader` key exists. Resolves true when we created it, false when the key exists (whoever
   * holds it, ourselves included: the caller knows if it held it). Refreshes the session first
   * if needed, so a success starts a fresh `SessionHold.validUntil`.
   */
  acquireLeader(options?: CallOptions): Promise<boolean>;

  /**
   * Renews the lock: refreshes the session and checks that `leader` still holds our name and is
   * attached to our current session (re-attaching it to our current session if it sits on an
   * earlier session of this same driver, as after a lease regrant or a ttl change, or on none at
   * all). Never creates an absent key, never overwrites another member's name, and never moves a
   * key that names us but is attached to a session this driver never had: that is another live
   * agent with our name, and taking its key would make two primaries. Resolves true when, after
   * the call, we hold the lock; false when the key is absent, names someone else or belongs to
   * another driver's session. A true result moves `hold().validUntil` forward.
   */
  renewLeader(options?: CallOptions): Promise<boolean>;

  /**
   * Deletes `leader` only if it holds our name and is not attached to another driver's session
   * (see `ownsSession`). Resolves true when deleted, false when it was absent, named someone
   * else or belonged to another driver's session (nothing is changed then).
   */
  releaseLeader(options?: CallOptions): Promise<boolean>;

  /**
   * Writes `members/<our name>` = value, attached to the session (created if absent, overwritten
   * if it is ours or on no session). The key disappears when the session expires. A key of our
   * name attached to another driver's live session is left as it is and the call rejects
   * `DCS_CONFLICT`: a second agent with the same name must not lose its key to us (nor we ours
   * to it).
   */
  touchMember(value: string, options?: CallOptions): Promise<void>;

  /**
   * Whether `owner` (a `RawNode.owner` from `load()`) is a session of this driver: its current
   * one, or an earlier one it replaced. False for any other session, also one of another driver
   * with our name. Synchronous, no I/O, never throws. A key whose owner is set and not ours is
   * held by another client whose session the server still counts as alive (etcd and ZooKeeper
   * delete a session's keys when it ends); the agent's start-up check for a duplicate name
   * relies on this.
   */
  ownsSession(owner: string): boolean;

  /**
   * Counts `owner` as an earlier session of ours from now on. The agent's start-up check calls
   * it for its own previous run: a member key with our name and our own addresses, on a live
   * session whose REST API does not answer (the agent crashed less than a ttl ago). renewLeader
   * and touchMember then move those keys onto our session, as after our own session was
   * replaced, so a restarted leader keeps its lock instead of waiting for it to expire.
   */
  adoptSession(owner: string): void;

  /** Deletes `members/<name>` of any member (used by `remove` and cleanup). True if it existed. */
  deleteMember(name: string, options?: CallOptions): Promise<boolean>;

  /**
   * Compare-and-set of a persistent key. Resolves true when written, false when the expectation
   * did not hold (key exists for `absent`, missing or of another version for `version`).
   */
  write(key: StoredKey, value: string, expect: Expectation, options?: CallOptions): Promise<boolean>;

  /**
   * Compare-and-delete of a persistent key. True when deleted, false when the expectation failed
   * or the key was absent (so `absent` always resolves false).
   */
  remove(key: StoredKey, expect: Expectation, options?: CallOptions): Promise<boolean>;

  /** Deletes every key under the prefix (`pghactl remove`). */
  deleteCluster(options?: CallOptions): Promise<void>;

  /**
   * Calls `listener` soon after `leader` or `config` changes (other keys may also be reported).
   * Only a wake-up signal: events may be coalesced, and after a reconnect one spurious event may
   * be sent. Changes made by other drivers (other agents) are reported; this driver's own
   * changes may or may not be. Listeners are called asynchronously, never from inside another
   * method of the driver. Returns a function that stops the listener (idempotent; no call is
   * made after it returns). Never throws; a broken watch is re-established by the driver. After
   * `close()` it returns a no-op function.
   */
  watch(listener: (event: WatchEvent) => void): () => void;

  /** The current session hold (see SessionHold). Synchronous, no I/O, never throws; `validUntil` is null after `close()`. */
  hold(): SessionHold;

  /**
   * Applies new timing (after a dynamic-config change). A ttl change re-times the session: etcd
   * grants a new lease for future keys, ZooKeeper needs a new session. Resolves once applied.
   * When the lock is held across the change, the next `renewLeader` either keeps it (true, the
   * key re-attached to the new session) or reports it lost (false, and the key no longer names
   * us, so another member, or we, may acquire it); it never leaves a key naming us that we
   * cannot renew.
   */
  setTiming(timing: DcsTiming): Promise<void>;

  /**
   * Releases resources. With `{ revoke: true }` also ends the session at once (so our ephemeral
   * keys vanish now rather than at ttl). Idempotent; afterwards every asynchronous method rejects
   * `DCS_CLOSED` (and `hold()` / `watch()` behave as documented on them).
   */
  close(options?: { revoke?: boolean }): Promise<void>;

  /**
   * Optional: takes a changed configuration section (a SIGHUP reload) without a new session —
   * the lock, the member key and the watch carry on. Resolves with what it applied, or with the
   * keys it cannot change in place (the agent then says a restart is needed for them). Rejects
   * `DCS_CONFIG` naming the key when the section is invalid, and then changes nothing. A driver
   * without it takes no section changes until the agent restarts.
   */
  reconfigure?(section: Record<string, unknown>): Promise<DriverReconfiguration>;
}

/**
 * What a driver package exports (its default export or a named `createDriver`). The plugin
 * loader imports the package and calls it once per agent.
 */
export type DriverFactory = (options: DriverOptions) => DcsDriver | Promise<DcsDriver>;

/** The module shape a driver plugin must have. */
export interface DriverModule {
  createDriver: DriverFactory;
  /** Short name used in logs (defaults to the config section name). */
  kind?: string;
}
