/**
 * What the API answers from: the state of the last HA cycle, published by the agent after every
 * cycle (and when PostgreSQL's state changes between cycles). Health checks never query
 * PostgreSQL or the DCS; they read this snapshot, so they cost microseconds and still reflect
 * reality within one cycle.
 */
import type { Cluster, ClusterConfig, PatroniDialect } from '@pgha/dcs';

/** Patroni's role names as the API shows them (3.x spelling `master` while the agent speaks Patroni 3). */
export type ApiRole = 'primary' | 'replica' | 'standby_leader' | 'uninitialized' | 'demoted' | 'promoted';

/** One row of `replication` in GET /patroni (pg_stat_replication). */
export interface ReplicationRow {
  usename: string;
  application_name: string;
  client_addr: string;
  state: string;
  sync_state: string;
  sync_priority: number;
}

/** The body of GET /patroni, field for field as Patroni writes it. */
export interface PatroniStatus {
  state: string;
  postmaster_start_time?: string;
  role: ApiRole | 'master';
  server_version?: number;
  xlog?:
    | { location: number }
    | { received_location?: number; replayed_location?: number; replayed_timestamp?: string | null; paused?: boolean };
  timeline?: number;
  replication_state?: string;
  replication?: ReplicationRow[];
  cluster_unlocked?: boolean;
  dcs_last_seen?: number;
  tags?: Record<string, unknown>;
  database_system_identifier?: string;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, { old_value: string; new_value: string }>;
  scheduled_restart?: Record<string, unknown>;
  pause?: boolean;
  /** Failsafe mode is active (a primary kept by its members' acknowledgements, or a replica pinged within ttl). */
  failsafe_mode_is_active?: boolean;
  sync_standby?: boolean;
  /** Patroni 4.1: a replica in the `/sync` set while `synchronous_mode` is `quorum`. */
  quorum_standby?: boolean;
  watchdog_failed?: boolean;
  patroni: { version: string; scope: string; name: string };
  /** pgha's own: the reason the last cycle gave (Patroni's sentence). */
  last_reason?: string;
}

/** Everything the API needs from the last cycle. */
export interface ApiSnapshot {
  status: PatroniStatus;
  /** This member holds the leader lock. */
  hasLock: boolean;
  /** The last cluster read (null when the DCS could not be read). */
  cluster: Cluster | null;
  /** Monotonic ms of the end of the last HA cycle (for /liveness). */
  lastCycleAt: number;
  /** Leader lock ttl, seconds (for /liveness). */
  ttl: number;
  /** `maximum_lag_on_failover` (bytes), the default of `?lag=` on /readiness. */
  maximumLagOnFailover: number;
  /**
   * What rewinds of this member discarded (postgres-controller's salvage reports): `GET
   * /history` adds each to the line of the timeline it belongs to, as a sixth element.
   */
  salvage?: readonly SalvageEntry[];
  /**
   * Why the DCS `config` value is not the one the engine runs on (it does not parse, or a timing
   * value is out of range); absent or null when it is. GET /config then answers with
   * `configInEffect` (the last good value) and says so in a header.
   */
  configProblem?: string | null;
  /** The dynamic configuration the engine runs on. */
  configInEffect?: ClusterConfig | null;
  /**
   * The Patroni names in use (3 when absent): with 4, `/metrics` leaves out `patroni_master`, as
   * Patroni 4 does. `status.role` is already spelled for it by whoever built the snapshot.
   */
  patroniDialect?: PatroniDialect;
  /**
   * A replica not streaming from the upstream it should follow (pgha's own): whom, for how many
   * seconds, and whether that is past `replica_not_streaming_timeout`. While `unhealthy`,
   * `/replica` (and every check built on it) and any check given `?lag=` answer 503. Absent or
   * null while it streams.
   */
  notStreaming?: { upstream: string; seconds: number; unhealthy: boolean } | null;
}

/** A salvage report as the API shows it: the timeline it belongs to, and the rest as is. */
export interface SalvageEntry {
  readonly timeline: number;
}
