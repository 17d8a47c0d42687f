/**
 * The cluster model: what one consistent read of `/<namespace>/<scope>/` means, in Patroni's terms.
 *
 * Values that came from the DCS carry the `version` the driver reported for them (etcd
 * `mod_revision`, ZooKeeper `stat.version`, the memory driver's counter) as an opaque string, so
 * a later compare-and-set can name exactly what it replaces. Malformed values never throw: they
 * are read as "unknown" (null, or empty data) and reported in `Cluster.warnings`.
 */

/**
 * A member's role. Patroni 3.x writes `master` where 4.x writes `primary`; both are read as
 * `primary`. Anything else Patroni does not define is read as `unknown`.
 */
export type MemberRole =
  | 'primary'
  | 'replica'
  | 'standby_leader'
  | 'demoted'
  | 'uninitialized'
  | 'promoted'
  | 'unknown';

/**
 * The Patroni major version whose names a member uses: 3 writes a primary's role as `master`
 * (member key, `GET /patroni`, callbacks' role argument, the `patroni_master` metric), 4 as
 * `primary` only. Readers accept both spellings whatever the dialect.
 */
export type PatroniDialect = 3 | 4;

/** The member states Patroni defines, in the order of its `patroni_postgres_state` metric. */
export const MEMBER_STATES = [
  'initializing new cluster',
  'initdb failed',
  'running custom bootstrap script',
  'custom bootstrap failed',
  'creating replica',
  'running',
  'starting',
  'starting after custom bootstrap',
  'start failed',
  'restarting',
  'restart failed',
  'stopping',
  'stopped',
  'stop failed',
  'crashed',
] as const;
export type MemberState = (typeof MEMBER_STATES)[number];

/** The value of a `members/<name>` key (Patroni's member JSON), parsed. */
export interface MemberData {
  /** `postgres://host:port/postgres` */
  conn_url?: string;
  /** `http://host:8008/patroni` */
  api_url?: string;
  proxy_url?: string;
  /** One of MEMBER_STATES, or whatever string a newer writer used. */
  state?: string;
  role: MemberRole;
  /**
   * How the member key spelled a primary's role (`master`: Patroni ≤ 3.x; `primary`: Patroni 4),
   * set by the reader and only for a primary. Never written back: the writer spells the role as
   * its WriteCompatibility says.
   */
  roleSpelling?: 'master' | 'primary';
  /** The agent's version string (Patroni's or pgha's). */
  version?: string;
  /** WAL position in bytes (the primary's write position, or a replica's received/replayed). */
  xlog_location?: number;
  receive_lsn?: number;
  replay_lsn?: number;
  timeline?: number;
  /** `streaming` or `in archive recovery` (Patroni 3.0.4+). */
  replication_state?: string;
  tags: Record<string, unknown>;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, { old_value: string; new_value: string }>;
  scheduled_restart?: Record<string, unknown>;
  checkpoint_after_promote?: boolean;
  pause?: boolean;
  /** Fields this reader does not know, kept so a rewrite loses nothing. */
  extra: Record<string, unknown>;
}

export interface Member {
  name: string;
  /** Version of the member key, for CAS. */
  version: string;
  /** The session / lease that owns the ephemeral key, when the driver knows it. */
  owner?: string;
  data: MemberData;
}

/** The `leader` key: a plain string, the name of the member holding the lock. */
export interface Leader {
  name: string;
  version: string;
  /** The session / lease that owns the ephemeral key, when the driver knows it. */
  owner?: string;
}

/**
 * The dynamic configuration (`config` key). Kept as the JSON object it is, because Patroni tools
 * and operators put arbitrary keys there; the agent validates the parts it uses. Typed accessors
 * for the keys pgha reads live with their users.
 */
export type ClusterConfig = Record<string, unknown>;

/**
 * The `failover` key: `leader` set = switchover away from that leader; only `member` = manual
 * failover to that member. `scheduled_at` is an ISO 8601 time with offset.
 */
export interface Failover {
  leader?: string;
  member?: string;
  scheduled_at?: string;
}

/** The `sync` key, written by the primary when synchronous replication is on. */
export interface SyncState {
  leader: string | null;
  /** Members that may promote without data loss (sorted, as Patroni writes them). */
  sync_standby: string[];
  /** Quorum mode (Patroni 4.0+): how many of `sync_standby` must confirm a vote; 0 otherwise. */
  quorum: number;
}

/** One line of the `history` key: a timeline switch. */
export interface TimelineHistoryEntry {
  /** The timeline that ended. */
  timeline: number;
  /** The LSN (bytes) where it ended. */
  lsn: number;
  reason: string;
  /** ISO 8601 time of the switch, when known. */
  timestamp?: string;
  /** Member that was promoted, when known. */
  new_leader?: string;
}
export type TimelineHistory = TimelineHistoryEntry[];

/** The `status` key (Patroni 2.1+), with a fallback to the legacy `optime/leader` key. */
export interface Status {
  /** The primary's last published WAL position in bytes. */
  optime: number | null;
  /** Replication slot name → confirmed position (bytes). */
  slots: Record<string, number>;
  /** Member slots to keep although their member is gone (Patroni 4.0+). */
  retain_slots: string[];
}

/** The `failsafe` key: member name → its REST API URL. */
export type Failsafe = Record<string, string>;

/** A value read from the DCS together with the version a CAS must name to replace it. */
export interface Versioned<T> {
  value: T;
  version: string;
}

/** One consistent read of the whole cluster prefix. */
export interface Cluster {
  /**
   * The `initialize` key: null when absent (cluster not initialised), `""` while a bootstrap
   * runs, otherwise the PostgreSQL system identifier.
   */
  initialize: Versioned<string> | null;
  config: Versioned<ClusterConfig> | null;
  /**
   * Set when a `config` key exists but does not read as a configuration (not JSON, not an
   * object): `config` is then null, and this says why, with the key's version. Readers must not
   * take that for "no configuration" — the engine keeps the last good one, and nobody re-creates
   * the key from `bootstrap.dcs` over the operator's broken edit. Absent when there is no such key.
   */
  configError?: Versioned<string> | null;
  leader: Leader | null;
  /** Sorted by name. */
  members: Member[];
  failover: Versioned<Failover> | null;
  sync: Versioned<SyncState> | null;
  history: Versioned<TimelineHistory> | null;
  status: Versioned<Status> | null;
  failsafe: Versioned<Failsafe> | null;
  /** One line per value that could not be read, naming the key. */
  warnings: string[];
}

/** An empty cluster: nothing under the prefix. */
export function emptyCluster(): Cluster {
  return {
    initialize: null,
    config: null,
    leader: null,
    members: [],
    failover: null,
    sync: null,
    history: null,
    status: null,
    failsafe: null,
    warnings: [],
  };
}

/** The member record of `name`, if it has one. */
export function findMember(cluster: Cluster, name: string): Member | undefined {
  return cluster.members.find((m) => m.name === name);
}

/** The member record of the lock holder, if the lock is held and the holder has a record. */
export function leaderMember(cluster: Cluster): Member | undefined {
  return cluster.leader ? findMember(cluster, cluster.leader.name) : undefined;
}

/**
 * True when `initialize` holds a usable system identifier. Patroni treats anything shorter than
 * ten digits as invalid (a bootstrap in progress or a damaged key).
 */
export function isInitialized(cluster: Cluster): boolean {
  return cluster.initialize !== null && /^\d{10,}$/.test(cluster.initialize.value);
}
