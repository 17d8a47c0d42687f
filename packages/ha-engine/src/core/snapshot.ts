/**
 * The snapshot: everything one HA decision may look at. `decide(snapshot)` reads nothing else (no
 * clock, no I/O), so a snapshot logged next to its decision is enough to replay and explain it.
 *
 * Units: times are milliseconds (`now` on the monotonic clock shared with the DCS driver,
 * `wallNow` since the Unix epoch), WAL positions are bytes, timelines are PostgreSQL's numbers.
 */
import type { Cluster, Failsafe, MemberData } from '@pgha/dcs';
import type { EngineConfig } from './config.js';
import type { ReplayLagMemory } from './replay-lag.js';
import type { ScheduledRestartIntent } from './scheduled-restart.js';
import type { ReceiverMemory, WalReceiverState } from './wal-receiver.js';

/** The role a running PostgreSQL server has: `primary` (writable) or `replica` (in recovery). */
export type PostgresRole = 'primary' | 'replica';

/**
 * What the local PostgreSQL looks like, from one query of the controller (`PostgresPort.state()`).
 */
export interface LocalPostgresState {
  /**
   * The data directory: `empty` (missing or no files: a new node), `initialized` (holds a
   * cluster with a readable system identifier), `invalid` (not empty, but no readable system
   * identifier: damaged or half-written).
   */
  dataDirectory: 'empty' | 'initialized' | 'invalid';
  /** The system identifier from pg_control, as a decimal string; null when unreadable. */
  systemId: string | null;
  /** True when a postmaster runs for this data directory (accepting connections or starting). */
  running: boolean;
  /**
   * Patroni's member state of the server as the controller sees it: `running`, `starting`,
   * `stopped`, `crashed` (the postmaster exited without being asked to), `start failed`, ...
   */
  state: string;
  /**
   * While running: `primary` when not in recovery, `replica` when in recovery. While stopped: the
   * role the data directory was last in, from pg_control (`in production` / `shut down` →
   * primary, `in archive recovery` / `shut down in recovery` → replica). Null when unknown.
   */
  role: PostgresRole | null;
  /** The timeline the server is on (while stopped: of its latest checkpoint). Null when unknown. */
  timeline: number | null;
  /**
   * The timeline of the latest checkpoint. A running primary's is behind its `timeline` from its
   * promotion until the checkpoint that follows it (member-data.ts: checkpoint_after_promote).
   * Null or absent when unknown (a port that does not report it).
   */
  checkpointTimeline?: number | null;
  /**
   * The newest WAL position this data directory holds, in bytes. Running primary: the current
   * write position. Running replica: max(received, replayed). Stopped: the latest checkpoint
   * location from pg_control (the *start* of that record). Null when unknown.
   */
  lsn: number | null;
  /** Running replica: WAL received (bytes). */
  receivedLsn?: number | null;
  /** Running replica: WAL replayed (bytes). */
  replayedLsn?: number | null;
  /**
   * The member (by name) this server's `primary_conninfo` points at; null when it follows nobody.
   * The controller reports the name of the FollowTarget it last applied (start / follow); an
   * adapter that can only read the conninfo must map it back to a member name, or the engine
   * sees a mismatch and re-points every cycle.
   */
  following: string | null;
  /** A replica's WAL receiver is streaming. */
  streaming: boolean;
  /**
   * Running replica: its WAL receiver and where `primary_conninfo` points (wal-receiver.ts).
   * Absent when the port does not report it: a replica is then never judged as not streaming.
   */
  walReceiver?: WalReceiverState;
  /** A changed parameter waits for a restart. */
  pendingRestart: boolean;
  /** `server_version_num` of the running server (a restart's `postgres_version` filter); absent/null when unknown. */
  serverVersion?: number | null;
  /** pg_rewind can work on this data directory (data checksums or `wal_log_hints` on). */
  rewindPossible: boolean;
  /**
   * Running primary: its walsenders (`pg_stat_replication`), one per connected standby. Absent
   * when the port does not report them (synchronous replication then never publishes anyone).
   */
  replication?: WalSenderState[];
  /** Running: the `synchronous_standby_names` in effect, as PostgreSQL shows it ('' = none). */
  synchronousStandbyNames?: string | null;
  /**
   * Running: the server's replication slots (not temporary ones). Absent when the port does not
   * report them: the slot policy then asks for every slot it wants and drops nothing.
   */
  slots?: LocalSlot[];
  /**
   * Set when the state could not be read (the query failed or did not answer in time); the other
   * fields are then meaningless and the decision does not act on PostgreSQL.
   */
  unknown?: string;
}

/** One row of `pg_replication_slots`. Positions in bytes. */
export interface LocalSlot {
  name: string;
  type: 'physical' | 'logical';
  database: string | null;
  plugin: string | null;
  restartLsn: number | null;
  confirmedFlushLsn: number | null;
}

/** One row of `pg_stat_replication` as the synchronous-replication rules need it. */
export interface WalSenderState {
  /** `application_name`: the standby's member name. */
  name: string;
  /** `streaming`, `catchup`, `startup`, `backup`, `stopping`. */
  state: string | null;
  /** `async`, `potential`, `sync`, `quorum`. */
  syncState: string | null;
  /** WAL flushed by the standby (bytes). */
  flushLsn: number | null;
  /** WAL replayed by the standby (bytes). */
  replayLsn: number | null;
}

/** This member, as configured locally. */
export interface MemberIdentity {
  name: string;
  /** `postgres://host:port/postgres`, written to the member key and used by followers. */
  connUrl: string;
  /** `http://host:8008/patroni`, written to the member key and used by peers' probes. */
  apiUrl: string;
  proxyUrl?: string;
  /** Patroni's `tags` (nofailover, failover_priority, clonefrom, replicatefrom, noloadbalance, nosync, ...). */
  tags: Record<string, unknown>;
  /** The version string written to the member key (Patroni's readers compare it with 2.1.0). */
  version: string;
}

/** The DCS could not be read this cycle. */
export interface DcsUnavailable {
  error: string;
  /** The `failsafe` key as the last successful read showed it (null: absent or never read). */
  failsafe?: Failsafe | null;
}

/** One member's answer to this primary's `POST /failsafe`. */
export interface FailsafeAck {
  name: string;
  /** The member answered 200 `Accepted`. */
  accepted: boolean;
  /** What went wrong otherwise (its answer, or the connection error). */
  error?: string;
}

/** The result of asking every other member of the failsafe topology to acknowledge us. */
export interface FailsafeCheck {
  /** Monotonic ms when the requests were sent: every acknowledgement is at least this recent. */
  startedAt: number;
  acks: FailsafeAck[];
}

/**
 * The primary that last called our `POST /failsafe` (a replica's view): while this is younger
 * than ttl, that primary is alive and reaches us, so we follow it and stay out of any race.
 */
export interface FailsafePing {
  name: string;
  connUrl: string | null;
  apiUrl: string | null;
  /** Monotonic ms when the request arrived. */
  receivedAt: number;
}

/**
 * The leader lock as this agent knows it, independent of the cluster read. `held` is true after a
 * successful acquire or renewal and false after a failed one, a release, or a read that shows
 * another holder; `validUntil` is the driver's `SessionHold.validUntil`: the last monotonic
 * millisecond at which the lease is certainly still ours on the server.
 */
export interface LockState {
  held: boolean;
  validUntil: number | null;
}

/** The kinds of PostgreSQL actions that run in the background, one at a time. */
export type LongActionKind =
  | 'bootstrap'
  | 'create_replica'
  | 'start'
  | 'stop'
  | 'restart'
  | 'promote'
  | 'demote'
  | 'follow'
  | 'rewind'
  | 'reinitialize';

/** The background action running now. */
export interface RunningAction {
  kind: LongActionKind;
  /** Patroni's name for it, used in reasons (`updated leader lock during <label>`). */
  label: string;
  startedAt: number;
  /** A `start`'s role: a primary's start may accept writes as soon as the server is up. */
  role?: 'primary' | 'replica';
}

/** How the most recent background action ended. Kept until the next one starts. */
export interface ActionOutcome {
  kind: LongActionKind;
  label: string;
  ok: boolean;
  /** The error message when it failed. */
  error?: string;
  startedAt: number;
  finishedAt: number;
}

/** What a member's REST API (`GET /patroni`) said when probed before a leader race or failover. */
export interface PeerStatus {
  name: string;
  /** False when the member did not answer in time or answered something unreadable. */
  reachable: boolean;
  /** False when the member runs as a writable primary (Patroni: no `wal.location` = in recovery). */
  inRecovery: boolean;
  /** Replica: max(received, replayed); primary: its write position. Bytes; null when not reported. */
  walPosition: number | null;
  timeline: number | null;
  tags: Record<string, unknown>;
  watchdogFailed: boolean;
  /** Why the probe failed, when it did. */
  error?: string;
}

/**
 * What the decision remembers from one cycle to the next (Patroni keeps these as fields of its
 * `Ha` object). `decide` returns the next value; the loop stores it and passes it back.
 */
export interface EngineMemory {
  /**
   * Monotonic ms until which a crashed primary that holds the lock may take to start again
   * (`primary_start_timeout` after the first restart attempt); null when no such start is going on.
   */
  primaryStartDeadline: number | null;
  /** pg_rewind failed against the current leader; do not try it again until that changes. */
  rewindFailed: { leader: string; timeline: number } | null;
  /** Identifies the last background action outcome already taken into account (`kind@startedAt`). */
  outcomeSeen: string | null;
  /**
   * Monotonic ms when our promotion last failed (a `pre_promote` script refusing it): we gave the
   * lock back and stay out of leader races for ttl after it, so another candidate wins.
   */
  promoteCancelledAt?: number | null;
  /**
   * Synchronous replication: the `synchronous_standby_names` first seen in effect and the
   * primary's WAL position at that read. A standby newly published in the `sync` key must have
   * flushed up to that position, so it holds every commit acknowledged before it became
   * synchronous. Absent until the leader manages the setting.
   */
  syncSince?: { standbyNames: string; lsn: number } | null;
  /**
   * Monotonic ms since when the `sync` key has lagged the standbys the leader wants (null: it
   * does not): the leader re-checks quickly for a while from then (rules/sync.ts).
   */
  syncLagSince?: number | null;
  /**
   * Member slots this server keeps: slot name → monotonic ms when a member last needed it. A slot
   * whose member is gone is kept until `member_slots_ttl` after that (slots.ts).
   */
  memberSlotsSeen?: Record<string, number>;
  /**
   * A replica's replay lag in time (replay-lag.ts): the positions the leader published lately,
   * each with when it was first seen, and when we were last caught up. Null while we lead, before
   * any leader, or when `maximum_lag_on_failover` is in bytes.
   */
  replayLag?: ReplayLagMemory | null;
  /**
   * A replica not streaming from the upstream it should follow: since when, and the repair steps
   * taken (wal-receiver.ts). Null or absent while it streams.
   */
  receiver?: ReceiverMemory | null;
}

export const initialMemory: EngineMemory = { primaryStartDeadline: null, rewindFailed: null, outcomeSeen: null };

/** Requests recorded by the REST API (management calls), consumed by a decision. */
export interface Intents {
  /** `POST /restart`: restart PostgreSQL. */
  restart?: { requestedAt: number };
  /** `POST /reinitialize`: throw the data directory away and clone it again. */
  reinitialize?: { requestedAt: number; fromLeader: boolean };
  /** `POST /restart` with `schedule`: restart when due if its filters hold (scheduled-restart.ts). */
  scheduledRestart?: ScheduledRestartIntent;
}
export type IntentKind = keyof Intents;

/** Everything one decision looks at. */
export interface Snapshot {
  /** One consistent read of the cluster, or why it failed. */
  cluster: Cluster | DcsUnavailable;
  local: LocalPostgresState;
  config: EngineConfig;
  me: MemberIdentity;
  /** Monotonic milliseconds (the clock the DCS driver times the lease with). */
  now: number;
  /** Milliseconds since the Unix epoch, for scheduled switchovers (`scheduled_at`). */
  wallNow: number;
  lock: LockState;
  running: RunningAction | null;
  lastAction: ActionOutcome | null;
  /**
   * Results of probing the other members' REST APIs in this cycle, or null when not probed yet.
   * Decisions that need them return a `probe_peers` action first (see decide.ts).
   */
  peers: PeerStatus[] | null;
  memory: EngineMemory;
  intents: Intents;
  /** False when the watchdog is required but not usable (Patroni: `Watchdog device is not usable`). */
  watchdogHealthy: boolean;
  /**
   * Answers to this cycle's `POST /failsafe` round, or null/absent when not asked yet. Like
   * `peers`, the rule that needs them returns a `failsafe_check` action first.
   */
  failsafeCheck?: FailsafeCheck | null;
  /** The last `POST /failsafe` a primary made to us (absent/null: none). */
  failsafePing?: FailsafePing | null;
  /** A `checkpoint` action started earlier is still running (absent: false). */
  checkpointRunning?: boolean;
}

/** True when the DCS read of this snapshot failed. */
export function isDcsUnavailable(cluster: Cluster | DcsUnavailable): cluster is DcsUnavailable {
  return 'error' in cluster;
}

/** What the engine writes as its member key, re-exported for convenience. */
export type { MemberData };
