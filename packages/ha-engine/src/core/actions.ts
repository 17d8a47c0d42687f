/**
 * What a decision asks the loop to do: a discriminated union on `kind`, run in order.
 *
 * Classes of actions.
 * - DCS actions run inline, each with the DCS call deadline.
 * - PostgreSQL actions (`LongAction`) run in the background, one at a time, while cycles go on
 *   (the loop keeps renewing the lock meanwhile). A decision contains at most one of them. A
 *   long action with `preempt: true` aborts the one running (its AbortSignal fires) and starts
 *   once that has settled; without it, the loop never starts a second one.
 * - `probe_peers` asks the loop to probe the other members and decide again at once (see decide.ts).
 *
 * Guards. Some actions can fail in a way the decision must react to: a lost race (`false`), or
 * an unreachable DCS. Such an action carries `otherwise` (and optionally `onError`, used instead
 * of `otherwise` when the call failed with an error rather than a `false`). When the guard does
 * not succeed, the loop drops the actions after it, logs `otherwise.reason` as the cycle's reason
 * and runs `otherwise.actions` instead. That keeps every branch decided by the pure function.
 */
import type { ClusterConfig, Failsafe, MemberData, PatroniDialect, Status } from '@pgha/dcs';
import type { RuleName } from './decide.js';
import type { ReasonCode } from './reason-codes.js';
import type { EngineMemory, IntentKind, LongActionKind } from './snapshot.js';

/** What to do when a guarded action does not succeed. */
export interface Otherwise {
  /** The reason code that replaces the decision's (reason-codes.ts). */
  code: ReasonCode;
  reason: string;
  actions: Action[];
}

interface Guarded {
  /** Used when the action resolves `false` (and on error when `onError` is absent). */
  otherwise?: Otherwise;
  /** Used when the action fails with an error (DCS unreachable, deadline passed). */
  onError?: Otherwise;
}

/** A member to clone from or follow. */
export interface FollowTarget {
  name: string;
  /** The member's `conn_url`; null when its member key has none. */
  connUrl: string | null;
  /**
   * Set when the target is another cluster's primary (a standby leader's `standby_cluster`):
   * the slot to stream from there (null = none, instead of our member slot) and recovery settings.
   */
  remote?: { slotName: string | null; recoveryConf: Record<string, string>; createReplicaMethods: string[] | null };
  /**
   * Our member slot on the target (`primary_slot_name`, Patroni's `slot_name_from_member_name` of
   * our name), set when `use_slots` is on and we stream from a member; absent = no slot.
   */
  slotName?: string;
  /**
   * Our `nostream` tag: follow this target's timeline without streaming from it (no
   * primary_conninfo, no slot); WAL comes from the archive (`restore_command`) only.
   */
  noStream?: boolean;
}

/**
 * Patroni's demote modes: how PostgreSQL stops and whether the leader key is released.
 * - `offline`: fast stop, keep the key (DCS unreachable), restart read-only following nobody.
 * - `graceful`: fast stop with checkpoint, release the key (switchover).
 * - `immediate`: immediate stop, release the key.
 * - `immediate-nolock`: immediate stop; the key is already lost.
 */
export type DemoteMode = 'offline' | 'graceful' | 'immediate' | 'immediate-nolock';

/** PostgreSQL's shutdown modes. */
export type StopMode = 'smart' | 'fast' | 'immediate';

// ---- DCS -----------------------------------------------------------------------------------

/** Create-if-absent race for the leader key. */
export interface AcquireLockAction extends Guarded {
  kind: 'acquire_lock';
}
/** Renew the lock; on success write `status` (optime) when given. */
export interface RenewLockAction extends Guarded {
  kind: 'renew_lock';
  status: Status | null;
}
/** Delete the leader key if we hold it. */
export interface ReleaseLockAction {
  kind: 'release_lock';
}
/** Bootstrap race: create `initialize` = "" if absent. */
export interface AttemptInitializeAction extends Guarded {
  kind: 'attempt_initialize';
}
/** Record the system identifier in `initialize` (expectVersion null = create if absent). */
export interface SetInitializeAction extends Guarded {
  kind: 'set_initialize';
  sysid: string;
  expectVersion: string | null;
}
/** Delete `initialize` after a failed bootstrap. */
export interface CancelInitializeAction extends Guarded {
  kind: 'cancel_initialize';
}
/** Write the dynamic configuration, only if the key is absent. */
export interface WriteConfigAction {
  kind: 'write_config';
  config: ClusterConfig;
}
/** Clear the `failover` key (CAS on its version when given). */
export interface ClearFailoverAction {
  kind: 'clear_failover';
  expectVersion?: string;
}
/**
 * Rewrite `history` from the local timeline history files (read through the PostgreSQL port),
 * keeping timestamps already in the key, marking `newLeader` on the last line and trimming to
 * `maxLines` (0 = all).
 */
export interface WriteHistoryAction {
  kind: 'write_history';
  expectVersion: string | null;
  newLeader: string;
  maxLines: number;
}

/**
 * CAS write of the `sync` key (Patroni's `write_sync_state`): the leader and the standbys that
 * may promote (and, in quorum mode, how many other voters must agree). `expectVersion` null =
 * create if absent. A lost CAS takes `otherwise`.
 */
export interface WriteSyncAction extends Guarded {
  kind: 'write_sync';
  leader: string;
  standbys: string[];
  quorum: number;
  expectVersion: string | null;
}
/** Delete the `sync` key (synchronous mode turned off), CAS on its version. */
export interface DeleteSyncAction extends Guarded {
  kind: 'delete_sync';
  expectVersion: string;
}

// ---- probes, watchdog, agent ----------------------------------------------------------------

/** Probe the listed members' REST APIs in parallel, then decide again with the results. */
export interface ProbePeersAction {
  kind: 'probe_peers';
  members: { name: string; apiUrl: string }[];
}
/**
 * Failsafe mode with the DCS unreachable: `POST /failsafe` to the listed members in parallel
 * (short deadline), then decide again with their answers (`Snapshot.failsafeCheck`).
 */
export interface FailsafeCheckAction {
  kind: 'failsafe_check';
  members: { name: string; apiUrl: string }[];
}
/**
 * Every member acknowledged this primary: it may keep running until `validUntil` (monotonic ms),
 * as a lease renewal would allow. The loop re-arms the safety deadline there and kicks the watchdog.
 */
export interface FailsafeHoldAction {
  kind: 'failsafe_hold';
  validUntil: number;
}
/** Write the `failsafe` key (member name → API URL), or delete it with null. Best effort. */
export interface WriteFailsafeAction {
  kind: 'write_failsafe';
  topology: Failsafe | null;
}
/** Activate the watchdog before becoming primary; a refusal takes `otherwise`. */
export interface ActivateWatchdogAction extends Guarded {
  kind: 'activate_watchdog';
}
export interface DisableWatchdogAction {
  kind: 'disable_watchdog';
}
/** A replication slot to keep: physical, or logical in `database` with output `plugin`. */
export interface SlotSpec {
  name: string;
  type: 'physical' | 'logical';
  database?: string;
  plugin?: string;
}
/** What to do to the local replication slots this cycle (slots.ts decides it). */
export interface SlotPlan {
  /** Slots to create (physical ones reserve WAL at once). */
  create: SlotSpec[];
  /** Slots to drop (a walsender still using one is terminated first). */
  drop: string[];
  /**
   * Slots on a replica to move forward to `lsn` (bytes) with `pg_replication_slot_advance`:
   * logical copies in their `database`, permanent physical slots (`database` null). A copy that cannot move because the WAL from its restart position is gone here
   * (copied before this replica had that WAL, e.g. right after its clone) is dropped, so that a
   * later cycle copies it afresh from the primary, whose slot has moved on meanwhile.
   */
  advance: { name: string; database: string | null; lsn: number }[];
}
/**
 * What carrying out a slot plan found. A step that fails is data here, not a rejection: the
 * engine decides what follows (slotRepairPlan in slots.ts), the port only says what happened.
 */
export interface SlotSyncReport {
  /** The steps that failed, one line each (`advance slot sub: ...`). */
  failures: string[];
  /**
   * Logical slot copies whose advance failed because the WAL from their restart position is no
   * longer on this server (the typed outcome of PostgreSQL's "has already been removed").
   */
  walRemoved: string[];
}
/**
 * Carry out a slot plan (member slots, permanent slots, logical slot copies on replicas). Best
 * effort: each step is tried, failures are logged and the next cycle plans again.
 */
export interface SyncSlotsAction {
  kind: 'sync_slots';
  plan: SlotPlan;
}
/**
 * Set `synchronous_standby_names` (configuration file + reload, no restart); null stops managing
 * it (PostgreSQL falls back to the configured parameter, normally none). Runs inline with the
 * DCS call deadline; a failure takes `otherwise`, so nothing is published after it.
 */
export interface SetSynchronousStandbyNamesAction extends Guarded {
  kind: 'set_synchronous_standby_names';
  setting: SynchronousStandbySetting | null;
}

/**
 * A value of `synchronous_standby_names`: `priority` is `N (a,b)` (a single name is written bare),
 * `any` is `ANY N (a,b,c)`; `['*']` is any standby (strict mode without candidates).
 */
export interface SynchronousStandbySetting {
  kind: 'priority' | 'any';
  count: number;
  names: string[];
}

/** Stop the agent: a fatal condition only an operator can resolve (system ID mismatch, failed bootstrap). */
export interface ExitAction {
  kind: 'exit';
  message: string;
}
/**
 * Run a CHECKPOINT on the new primary (Patroni's `ensure_checkpoint_after_promote`): pg_rewind
 * against it needs its first checkpoint on the new timeline. Started and not waited for (it can
 * take long on a busy server); the snapshot's `checkpointRunning` says one is under way.
 */
export interface CheckpointAction {
  kind: 'checkpoint';
}
/** Tell the loop an intent has been handled (acted on or refused). */
export interface ConsumeIntentAction {
  kind: 'consume_intent';
  intent: IntentKind;
}

/**
 * Restart a replica's WAL receiver (SIGTERM to process `pid`, which must be the receiver read this
 * cycle; the startup process starts a new one). Inline and bounded; a failure is logged and the
 * escalation goes on (wal-receiver.ts).
 */
export interface RestartWalReceiverAction {
  kind: 'restart_wal_receiver';
  pid: number;
}

// ---- PostgreSQL (background) ----------------------------------------------------------------

interface LongBase {
  /** Patroni's name for the action (`restarting after failure`, `promote`, ...). */
  label: string;
  /** Abort the running background action and run this one after it. */
  preempt?: boolean;
}
/** initdb (or the custom bootstrap method), start, wait for recovery to end, post_bootstrap. */
export interface BootstrapAction extends LongBase {
  kind: 'bootstrap';
}
/** Clone the data directory from `source`, then start as a replica following `follow`. */
export interface CreateReplicaAction extends LongBase {
  kind: 'create_replica';
  source: FollowTarget;
  follow: FollowTarget | null;
}
/** Start PostgreSQL as `role`; a replica follows `follow` (or nobody). */
export interface StartAction extends LongBase {
  kind: 'start';
  role: 'primary' | 'replica';
  follow: FollowTarget | null;
  /** How long the start may take before it counts as failed (ms). */
  timeoutMs: number;
}
export interface StopAction extends LongBase {
  kind: 'stop';
  mode: StopMode;
}
export interface RestartAction extends LongBase {
  kind: 'restart';
  /**
   * Before restarting, copy these logical slots' state from `source` (the primary) into the data
   * directory; the restart loads them (PostgreSQL 15 cannot create a logical slot on a standby).
   */
  copyLogicalSlots?: { source: FollowTarget; slots: string[] };
}
/** Promote (no waiting for a checkpoint). */
export interface PromoteAction extends LongBase {
  kind: 'promote';
}
/**
 * Stop the primary per `mode`, release the leader key when the mode says so (only after
 * PostgreSQL is down), then start it again as a replica following `follow`.
 */
export interface DemoteAction extends LongBase {
  kind: 'demote';
  mode: DemoteMode;
  follow: FollowTarget | null;
}
/** Point `primary_conninfo` at `target` (a reload or restart, as the controller needs). */
export interface FollowAction extends LongBase {
  kind: 'follow';
  target: FollowTarget | null;
}
/** pg_rewind from `source`, then start as a replica following it. */
export interface RewindAction extends LongBase {
  kind: 'rewind';
  source: FollowTarget;
}
/** Remove the data directory, clone it from `source`, start as a replica following `follow`. */
export interface ReinitializeAction extends LongBase {
  kind: 'reinitialize';
  source: FollowTarget;
  follow: FollowTarget | null;
}

export type LongAction =
  | BootstrapAction
  | CreateReplicaAction
  | StartAction
  | StopAction
  | RestartAction
  | PromoteAction
  | DemoteAction
  | FollowAction
  | RewindAction
  | ReinitializeAction;

export type Action =
  | AcquireLockAction
  | RenewLockAction
  | ReleaseLockAction
  | AttemptInitializeAction
  | SetInitializeAction
  | CancelInitializeAction
  | WriteConfigAction
  | ClearFailoverAction
  | WriteHistoryAction
  | ProbePeersAction
  | FailsafeCheckAction
  | FailsafeHoldAction
  | WriteFailsafeAction
  | ActivateWatchdogAction
  | DisableWatchdogAction
  | ExitAction
  | ConsumeIntentAction
  | CheckpointAction
  | SyncSlotsAction
  | WriteSyncAction
  | DeleteSyncAction
  | SetSynchronousStandbyNamesAction
  | RestartWalReceiverAction
  | LongAction;

export type ActionKind = Action['kind'];

const LONG_KINDS: ReadonlySet<string> = new Set<LongActionKind>([
  'bootstrap',
  'create_replica',
  'start',
  'stop',
  'restart',
  'promote',
  'demote',
  'follow',
  'rewind',
  'reinitialize',
]);

/** True for the PostgreSQL actions that run in the background. */
export function isLongAction(action: Action): action is LongAction {
  return LONG_KINDS.has(action.kind);
}

/** A one-line rendering of an action for logs: `demote(immediate-nolock)`, `start(replica→pg0)`. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'demote':
      return `demote(${action.mode})`;
    case 'start':
      return `start(${action.role}${action.follow ? `→${action.follow.name}` : ''})`;
    case 'stop':
      return `stop(${action.mode})`;
    case 'create_replica':
    case 'rewind':
    case 'reinitialize':
      return `${action.kind}(${action.source.name})`;
    case 'follow':
      return `follow(${action.target?.name ?? 'none'})`;
    case 'probe_peers':
      return `probe_peers(${action.members.map((m) => m.name).join(',')})`;
    case 'failsafe_check':
      return `failsafe_check(${action.members.map((m) => m.name).join(',')})`;
    case 'write_failsafe':
      return action.topology ? `write_failsafe(${Object.keys(action.topology).join(',')})` : 'write_failsafe(delete)';
    case 'consume_intent':
      return `consume_intent(${action.intent})`;
    case 'sync_slots': {
      const p = action.plan;
      return `sync_slots(${[...p.create.map((c) => `+${c.name}`), ...p.drop.map((d) => `-${d}`), ...p.advance.map((a) => `>${a.name}`)].join(',')})`;
    }
    case 'restart_wal_receiver':
      return `restart_wal_receiver(${action.pid})`;
    case 'restart':
      return action.copyLogicalSlots ? `restart(copy ${action.copyLogicalSlots.slots.join(',')} from ${action.copyLogicalSlots.source.name})` : 'restart';
    case 'write_sync':
      return `write_sync(${action.leader}:${action.standbys.join(',')}${action.quorum > 0 ? `/q${action.quorum}` : ''})`;
    case 'set_synchronous_standby_names':
      return `set_synchronous_standby_names(${action.setting ? renderSetting(action.setting) : 'none'})`;
    default:
      return action.kind;
  }
}

function renderSetting(setting: SynchronousStandbySetting): string {
  const names = setting.names.join(',');
  if (setting.kind === 'any') return `ANY ${setting.count} (${names})`;
  return setting.names.length === 1 && setting.count === 1 ? names : `${setting.count} (${names})`;
}

/** The outcome of one decision. */
export interface Decision {
  /** One sentence saying why (Patroni's sentence where Patroni has one). */
  reason: string;
  /** The stable name of the outcome (reason-codes.ts); `reason` is its sentence. */
  code: ReasonCode;
  /** The row of the rules table that decided (`dcs-unavailable` when the DCS read failed). */
  rule: RuleName;
  actions: Action[];
  /** Extra log lines explaining the decision (candidate checks, failover key handling). */
  notes: string[];
  /** The member key to write at the end of the cycle (skipped when the DCS is unreachable). */
  member: MemberData | null;
  /**
   * Whose names to use (patroni-dialect.ts): how the member key spells a primary's role, and
   * what the REST API, the metrics and the callbacks say. Null when the DCS could not be read
   * and nothing is configured: keep the last one.
   */
  patroniDialect: PatroniDialect | null;
  /** The memory for the next cycle. */
  memory: EngineMemory;
  /** Ask the loop to run the next cycle sooner than `loop_wait` (ms), e.g. for a scheduled switchover. */
  wakeAfterMs?: number;
}
