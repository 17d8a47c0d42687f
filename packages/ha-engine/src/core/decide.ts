/**
 * `decide(snapshot) → { reason, actions, ... }`: the HA rules as one pure, deterministic function.
 *
 * The rules form a table (after pg_auto_failover's `KeeperFSM[]`): rows are tried in order and
 * the first that applies decides. The order is Patroni's `_run_cycle`: a running background
 * action first, then the data directory and system-ID checks, then a stopped PostgreSQL, then
 * the lock (free → leader race; ours → lead; someone else's → follow). Before most rows, the
 * DCS bookkeeping Patroni does every cycle (a lock holder repairing `initialize` / `config`).
 *
 * Two-phase decisions. Some rules need the other members' WAL positions (the leader race, "is a
 * failover possible"). Pure code cannot ask for them, so such a rule returns a single
 * `probe_peers` action while `snapshot.peers` is null; the loop probes every listed member in
 * parallel with a short deadline and calls `decide` again at once with the results. The second
 * call never asks to probe again. Members that do not answer count as unreachable. Failsafe
 * mode's `failsafe_check` (rules/failsafe.ts) works the same way, with `snapshot.failsafeCheck`.
 */
import type { Cluster } from '@pgha/dcs';
import { isInitialized } from '@pgha/dcs';
import type { Action, Decision, LongAction } from './actions.js';
import { isLongAction } from './actions.js';
import { buildMemberData } from './member-data.js';
import { patroniDialectOf } from './patroni-dialect.js';
import { CHECKPOINT_RECHECK_MS, checkpointAfterPromoteDue, leaderTimeline } from './rejoin.js';
import { observeReplayLag } from './replay-lag.js';
import { scheduledRestartStep } from './scheduled-restart.js';
import { afterBootstrap, emptyDataDirectory, housekeeping, isValidSysid, sysidMismatch, uninitializedReplica } from './rules/bootstrap.js';
import type { Ctx, Outcome } from './rules/context.js';
import { makeContext, only } from './rules/context.js';
import { dcsUnavailable } from './rules/dcs-unavailable.js';
import { failsafeUpkeep, withFailsafeLeader } from './rules/failsafe.js';
import { follower } from './rules/follower.js';
import { reinitializeRequested, restartRequested } from './rules/intents.js';
import { leaderWithLock, startingPrimary } from './rules/leader.js';
import { longActionInProgress } from './rules/long-action.js';
import { inPromoteBackoff, promoteBackoff, promoteCancelled, promoteJustFailed } from './rules/promote-cancelled.js';
import { paused } from './rules/pause.js';
import { leaderRace } from './rules/race.js';
import { postgresDown } from './rules/recover.js';
import { primaryInStandbyCluster, standbyLeaderDown, standbyLeaderWithLock, standbyLeading } from './rules/standby-leader.js';
import { leaderSyncUpkeep } from './rules/sync.js';
import type { SlotUpkeep } from './slots.js';
import { planSlots } from './slots.js';
import type { EngineMemory, Snapshot } from './snapshot.js';
import { isDcsUnavailable } from './snapshot.js';
import { observeReceiver } from './wal-receiver.js';

/** The rows of the rules table, in order, and `dcs-unavailable` (decided before the table). */
export type RuleName =
  | 'dcs-unavailable'
  | 'long-action'
  | 'postgres-unknown'
  | 'after-bootstrap'
  | 'empty-data-directory'
  | 'invalid-system-id'
  | 'system-id-mismatch'
  | 'uninitialized-replica'
  | 'primary-starting'
  | 'reinitialize-requested'
  | 'restart-requested'
  | 'paused'
  | 'standby-leader-down'
  | 'postgres-down'
  | 'promote-cancelled'
  | 'promote-backoff'
  | 'lock-free'
  | 'primary-in-standby-cluster'
  | 'standby-leader'
  | 'leader-with-lock'
  | 'follower';

/**
 * The per-cycle upkeep Patroni does outside the HA rules proper, which a row may take part in.
 * - `housekeeping`: before the row's actions, the lock holder's DCS bookkeeping (a missing
 *   `initialize` / `config`, adopting a data directory).
 * - `primary-slots`: slots as a primary (a slot per other member, permanent slots) when
 *   PostgreSQL runs as primary; `cascade-slots`: the same while it runs as a replica (a standby
 *   leader keeps the slots of the members cascading from it); `replica-slots`: a replica's slots
 *   (permanent slots, logical slot copies) while it runs as a replica. slots.ts has the policy.
 * - `failsafe-topology`: the lock holder renewing its lock publishes the failsafe topology.
 * - `promote-checkpoint`: the lock holder renewing its lock as a newly promoted primary issues
 *   the CHECKPOINT that pg_rewind against it needs (rejoin.ts checkpointAfterPromoteDue).
 * - `leader-sync`: last, synchronous replication's `sync` key and `synchronous_standby_names`,
 *   on a running primary; its guarded writes drop what follows them when they fail.
 */
export type UpkeepPhase = 'housekeeping' | 'primary-slots' | 'cascade-slots' | 'replica-slots' | 'failsafe-topology' | 'promote-checkpoint' | 'leader-sync';

export const UPKEEP_PHASES: readonly UpkeepPhase[] = ['housekeeping', 'primary-slots', 'cascade-slots', 'replica-slots', 'failsafe-topology', 'promote-checkpoint', 'leader-sync'];

/** One row of the rules table. */
export interface Rule {
  name: Exclude<RuleName, 'dcs-unavailable'>;
  /** The situation the row handles, in words. */
  situation: string;
  /** The upkeep that goes with the row's decision. */
  upkeep: readonly UpkeepPhase[];
  /** The row's decision, or null when the situation does not apply. */
  apply(ctx: Ctx): Outcome | null;
}

const ALWAYS: readonly UpkeepPhase[] = ['housekeeping', 'failsafe-topology'];
const NO_HOUSEKEEPING: readonly UpkeepPhase[] = ['failsafe-topology'];

export const RULES: readonly Rule[] = [
  {
    name: 'long-action',
    situation: 'a background action (bootstrap, clone, start, promote, rewind, ...) is running',
    upkeep: ALWAYS,
    apply: (ctx) => (ctx.s.running ? longActionInProgress(ctx, ctx.s.running) : null),
  },
  {
    name: 'postgres-unknown',
    situation: 'the state of PostgreSQL could not be read',
    upkeep: NO_HOUSEKEEPING,
    apply: (ctx) =>
      ctx.s.local.unknown !== undefined ? only('postgres.unknown', 'Error communicating with PostgreSQL. Will try again later', [ctx.s.local.unknown]) : null,
  },
  {
    name: 'after-bootstrap',
    situation: 'our bootstrap ended and the initialize key still waits for the system ID',
    upkeep: NO_HOUSEKEEPING,
    apply: (ctx) =>
      ctx.s.lastAction?.kind === 'bootstrap' && !isInitialized(ctx.cluster) ? afterBootstrap(ctx, ctx.s.lastAction) : null,
  },
  {
    name: 'empty-data-directory',
    situation: 'the data directory is empty: a new member',
    upkeep: NO_HOUSEKEEPING,
    apply: (ctx) => (ctx.s.local.dataDirectory === 'empty' && !ctx.s.local.running ? emptyDataDirectory(ctx) : null),
  },
  {
    name: 'invalid-system-id',
    situation: 'the data directory is not empty but has no readable system ID',
    upkeep: NO_HOUSEKEEPING,
    apply: (ctx) =>
      ctx.s.local.dataDirectory === 'invalid' || !isValidSysid(ctx.s.local.systemId)
        ? only('sysid.invalid', 'data dir for the cluster is not empty, but system ID is invalid; consider doing reinitialize')
        : null,
  },
  {
    name: 'system-id-mismatch',
    situation: 'the data directory belongs to another cluster',
    upkeep: NO_HOUSEKEEPING,
    apply: sysidMismatch,
  },
  {
    name: 'uninitialized-replica',
    situation: 'no initialize key while PostgreSQL runs as a replica',
    upkeep: NO_HOUSEKEEPING,
    apply: uninitializedReplica,
  },
  {
    name: 'primary-starting',
    situation: 'our primary is still starting after a crash while we hold the lock',
    upkeep: ALWAYS,
    apply: (ctx) => {
      const deadline = ctx.memory.primaryStartDeadline;
      return ctx.holder && ctx.s.local.running && ctx.s.local.state === 'starting' && deadline !== null
        ? startingPrimary(ctx, deadline)
        : null;
    },
  },
  {
    name: 'reinitialize-requested',
    situation: 'the REST API asked to reinitialize this member',
    upkeep: ALWAYS,
    apply: (ctx) => {
      const intent = ctx.s.intents.reinitialize;
      return intent ? reinitializeRequested(ctx, intent.fromLeader) : null;
    },
  },
  {
    name: 'restart-requested',
    situation: 'the REST API asked to restart PostgreSQL, now or at a time that has come',
    upkeep: ALWAYS,
    apply: (ctx) => {
      if (ctx.s.intents.restart) return restartRequested(ctx, false);
      return scheduledRestartStep(ctx.s).kind === 'restart' ? restartRequested(ctx, true) : null;
    },
  },
  {
    name: 'paused',
    situation: 'maintenance mode: the cluster is paused',
    upkeep: [...ALWAYS, 'promote-checkpoint'],
    apply: (ctx) => (ctx.s.config.pause ? paused(ctx) : null),
  },
  {
    name: 'standby-leader-down',
    situation: 'we lead a standby cluster and PostgreSQL is not running',
    upkeep: ALWAYS,
    apply: (ctx) => {
      const standby = ctx.s.config.standbyCluster;
      return standby && ctx.holder && !ctx.s.local.running && ctx.s.local.role !== 'primary' ? standbyLeaderDown(ctx, standby) : null;
    },
  },
  {
    name: 'postgres-down',
    situation: 'PostgreSQL is not running',
    upkeep: ALWAYS,
    apply: (ctx) => (!ctx.s.local.running ? postgresDown(ctx) : null),
  },
  {
    name: 'promote-cancelled',
    situation: 'our promotion failed (pre_promote refused it) while we hold the lock',
    upkeep: NO_HOUSEKEEPING,
    apply: (ctx) => (ctx.holder && !ctx.isPrimary && promoteJustFailed(ctx) ? promoteCancelled() : null),
  },
  {
    name: 'promote-backoff',
    situation: 'the lock is free but our promotion failed less than ttl ago',
    upkeep: ALWAYS,
    apply: (ctx) => (ctx.leaderName === null && !ctx.isPrimary && inPromoteBackoff(ctx) ? promoteBackoff() : null),
  },
  {
    name: 'lock-free',
    situation: 'nobody holds the leader lock',
    upkeep: ALWAYS,
    apply: (ctx) => (ctx.leaderName === null ? leaderRace(ctx) : null),
  },
  {
    name: 'primary-in-standby-cluster',
    situation: 'we hold the lock as a running primary, but the configuration makes this a standby cluster',
    upkeep: ALWAYS,
    apply: (ctx) => {
      const standby = ctx.s.config.standbyCluster;
      return standby && ctx.holder && ctx.isPrimary ? primaryInStandbyCluster(standby) : null;
    },
  },
  {
    name: 'standby-leader',
    situation: 'we hold the leader lock of a standby cluster: stream from the remote primary',
    upkeep: ['housekeeping', 'cascade-slots', 'failsafe-topology'],
    apply: (ctx) => {
      const standby = standbyLeading(ctx);
      return standby ? standbyLeaderWithLock(ctx, standby) : null;
    },
  },
  {
    name: 'leader-with-lock',
    situation: 'we hold the leader lock',
    upkeep: ['housekeeping', 'primary-slots', 'failsafe-topology', 'promote-checkpoint', 'leader-sync'],
    apply: (ctx) => (ctx.holder ? leaderWithLock(ctx) : null),
  },
  {
    name: 'follower',
    situation: 'another member holds the leader lock',
    upkeep: ['housekeeping', 'replica-slots', 'failsafe-topology'],
    apply: follower,
  },
];

/** The HA decision for one snapshot. Pure: same snapshot, same decision. */
export function decide(s: Snapshot): Decision {
  const decision = isDcsUnavailable(s.cluster)
    ? { ...complete(s, dcsUnavailable(s, s.cluster.error), 'dcs-unavailable', s.memory), member: null }
    : decideWithCluster(s, s.cluster);
  // Patroni prefixes every sentence in maintenance mode.
  return s.config.pause ? { ...decision, reason: `PAUSE: ${decision.reason}` } : decision;
}

function decideWithCluster(s: Snapshot, read: Cluster): Decision {
  // Failsafe mode: a primary that pinged us within ttl leads, whatever the DCS says of the lock.
  const cluster = withFailsafeLeader(s, read);
  const carried = carryMemory(s, cluster);
  // Whether the replica streams from whom it should is judged on the context it decides in.
  const memory = { ...carried, receiver: observeReceiver(makeContext(s, cluster, carried)) };
  const ctx = makeContext(s, cluster, memory);
  for (const rule of RULES) {
    const outcome = rule.apply(ctx);
    if (outcome) return withScheduledRestart(s, complete(s, withUpkeep(rule.upkeep, ctx, outcome), rule.name, memory));
  }
  // The last row always applies; this is for the type checker.
  throw new Error('no HA rule applied');
}

/** A row's outcome with the upkeep of its `phases` (see UpkeepPhase) added, in their order. */
export function withUpkeep(phases: readonly UpkeepPhase[], ctx: Ctx, outcome: Outcome): Outcome {
  const { s, cluster } = ctx;
  const has = (phase: UpkeepPhase): boolean => phases.includes(phase);
  const actions = has('housekeeping') ? [...housekeeping(ctx), ...outcome.actions] : outcome.actions;
  const slots = slotUpkeep(s, cluster, phases, actions);
  const checkpoint: Action[] =
    has('promote-checkpoint') && checkpointAfterPromoteDue({ holdsLock: ctx.holder, local: s.local, checkpointRunning: s.checkpointRunning === true, actions }) ? [{ kind: 'checkpoint' }] : [];
  const upkeep = [...slots.actions, ...(has('failsafe-topology') ? failsafeUpkeep(s, cluster, actions) : []), ...checkpoint];
  // Last: its guarded writes drop what follows them when they fail.
  const sync = leaderSyncUpkeep(ctx, has('leader-sync'), actions);
  return {
    ...outcome,
    actions: [...withSlotStatus(actions, slots.status), ...upkeep, ...sync.actions],
    notes: [...(outcome.notes ?? []), ...sync.notes],
    memory: { ...outcome.memory, ...slots.memory, ...sync.memory },
    ...sooner(outcome.wakeAfterMs, sync.wakeAfterMs),
  };
}

/**
 * A scheduled restart beside whatever row decided (scheduled-restart.ts): not due, the loop wakes
 * at its time; due and skipped, it is dropped with the reason. A due one that may run is the
 * `restart-requested` row's; one that another row kept from running waits for a later cycle.
 */
function withScheduledRestart(s: Snapshot, decision: Decision): Decision {
  if (decision.actions.some((a) => a.kind === 'probe_peers' || a.kind === 'failsafe_check')) return decision;
  const step = scheduledRestartStep(s);
  if (step.kind === 'wait') return { ...decision, ...sooner(decision.wakeAfterMs, step.ms) };
  if (step.kind !== 'skip') return decision;
  return {
    ...decision,
    actions: [{ kind: 'consume_intent', intent: 'scheduledRestart' }, ...decision.actions],
    notes: [...decision.notes, `the scheduled restart was skipped: ${step.why}`],
  };
}

/** The earlier of two optional wake-ups, as an Outcome field. */
function sooner(a: number | undefined, b: number | undefined): { wakeAfterMs?: number } {
  if (a === undefined) return b === undefined ? {} : { wakeAfterMs: b };
  return { wakeAfterMs: b === undefined ? a : Math.min(a, b) };
}

function complete(s: Snapshot, outcome: Outcome, rule: RuleName, memory: EngineMemory): Decision {
  const probe = outcome.actions.find((a) => a.kind === 'probe_peers' || a.kind === 'failsafe_check');
  const nextMemory = { ...memory, ...outcome.memory };
  const patroniDialect = patroniDialectOf(s.cluster, { configured: s.config.patroniCompatibility, me: s.me.name });
  if (probe) {
    // The probe phase acts on nothing: the second decision, with the results, does.
    return { reason: outcome.reason, code: outcome.code, rule, actions: [probe], notes: outcome.notes ?? [], member: null, memory: s.memory, patroniDialect };
  }
  const decision: Decision = {
    reason: outcome.reason,
    code: outcome.code,
    rule,
    actions: outcome.actions,
    notes: outcome.notes ?? [],
    member: buildMemberData(s, firstLongAction(outcome.actions)),
    memory: nextMemory,
    patroniDialect,
  };
  if (outcome.wakeAfterMs !== undefined) decision.wakeAfterMs = outcome.wakeAfterMs;
  // Publish the end of the post-promote checkpoint soon: members wait for it to rewind.
  if (decision.member?.checkpoint_after_promote === false) decision.wakeAfterMs = Math.min(decision.wakeAfterMs ?? CHECKPOINT_RECHECK_MS, CHECKPOINT_RECHECK_MS);
  return decision;
}

/**
 * Patroni syncs replication slots every cycle, outside the HA rules proper: here, for a row with
 * a slots phase whose decision leaves PostgreSQL running in the role the phase needs (and starts
 * no long action, releases no lock). The policy itself is in slots.ts.
 */
function slotUpkeep(s: Snapshot, cluster: Cluster, phases: readonly UpkeepPhase[], actions: Action[]): SlotUpkeep {
  const none: SlotUpkeep = { actions: [], status: null, memory: {} };
  if (!s.config.useSlots || !s.local.running || s.local.state !== 'running') return none;
  if (actions.some((a) => isLongAction(a) || a.kind === 'release_lock')) return none;
  if (phases.includes('primary-slots') && s.local.role === 'primary') return planSlots(s, cluster, 'primary');
  if (phases.includes('replica-slots') && s.local.role === 'replica') return planSlots(s, cluster, 'replica');
  if (phases.includes('cascade-slots') && s.local.role === 'replica') return planSlots(s, cluster, 'primary');
  return none;
}

/** The leader publishes its slots' positions and retained member slots with the lock renewal. */
function withSlotStatus(actions: Action[], status: SlotUpkeep['status']): Action[] {
  if (!status) return actions;
  return actions.map((a) => (a.kind === 'renew_lock' && a.status ? { ...a, status: { ...a.status, ...status } } : a));
}

function firstLongAction(actions: Action[]): LongAction | null {
  return actions.find(isLongAction) ?? null;
}

/** The memory this decision starts from: last cycle's, updated with what happened since. */
function carryMemory(s: Snapshot, cluster: Cluster): EngineMemory {
  const m: EngineMemory = { ...s.memory };
  const holder = cluster.leader?.name === s.me.name;
  const runningPrimary = s.local.running && s.local.role === 'primary' && s.local.state === 'running';
  if (!holder || runningPrimary) m.primaryStartDeadline = null;

  const last = s.lastAction;
  const leader = cluster.leader?.name ?? null;
  const outcomeId = last ? `${last.kind}@${last.startedAt}` : null;
  if (last && outcomeId !== m.outcomeSeen) {
    m.outcomeSeen = outcomeId;
    if (last.kind === 'promote' && !last.ok) m.promoteCancelledAt = last.finishedAt;
    if (last.kind === 'rewind' && !last.ok && leader) m.rewindFailed = { leader, timeline: leaderTimeline(cluster) ?? 0 };
    else if (last.ok && (last.kind === 'rewind' || last.kind === 'reinitialize' || last.kind === 'create_replica')) m.rewindFailed = null;
  }
  // A new leader deserves a new attempt.
  if (m.rewindFailed && m.rewindFailed.leader !== leader) m.rewindFailed = null;
  m.replayLag = observeReplayLag(m.replayLag, {
    cluster,
    local: s.local,
    me: s.me.name,
    now: s.now,
    limitSeconds: s.config.maximumReplayLagOnFailover,
  });
  return m;
}
