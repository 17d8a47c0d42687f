/**
 * Replicas that claim to follow but do not (issue 18): a replica whose WAL receiver has not
 * streamed from the upstream it should follow (the leader, its `replicatefrom` member, or a
 * standby leader's remote primary) for longer than `replica_not_streaming_timeout` is reported
 * unhealthy and repaired, one escalating step per bound:
 *
 * 1. re-point: `primary_conninfo` names another upstream than the expected one → rewrite it and
 *    reload (the `follow` action);
 * 2. restart the WAL receiver (SIGTERM to it; the startup process starts a new one at once), or
 *    restart PostgreSQL when no receiver process runs at all;
 * 3. rejoin: pg_rewind, or a re-clone, by the rejoin settings (rejoin.ts); a standby leader, whose
 *    upstream is another cluster, goes back to step 1 instead.
 *
 * After step 3 the sequence starts again. A short DCS blip or a restart of the upstream heals on
 * its own well within the bound (PostgreSQL retries every `wal_retrieve_retry_interval`), so the
 * bound keeps pgha from fighting PostgreSQL's own retries; its default is derived from the timing
 * (`ttl + loop_wait`: longer than a leader change takes to settle).
 */
import type { Member } from '@pgha/dcs';
import { parseConnUrl } from '@pgha/dcs';
import type { FollowTarget } from './actions.js';
import type { EngineConfig } from './config.js';
import type { Ctx, Outcome } from './rules/context.js';
import { followChoice, followTarget, targetOf } from './rules/context.js';
import type { LocalPostgresState } from './snapshot.js';

/** A replica's WAL receiver as the controller read it (`pg_stat_wal_receiver`, `primary_conninfo`). */
export interface WalReceiverState {
  /** `pg_stat_wal_receiver.status` (`streaming`, `waiting`, `starting`, ...); null when no receiver runs. */
  status: string | null;
  /** The receiver's process id; null when none runs. */
  pid: number | null;
  /** Where the receiver is connected (`sender_host` / `sender_port`, or parsed from its conninfo on PostgreSQL 10). */
  senderHost: string | null;
  senderPort: number | null;
  /** Where the `primary_conninfo` in effect points (host and port only: it may hold a password). */
  conninfoHost: string | null;
  conninfoPort: number | null;
  /**
   * `last_msg_receipt_time` (ISO 8601), kept for the record only: an idle walsender may be silent
   * for up to half its `wal_sender_timeout`, so its age says nothing the status does not.
   */
  lastMsgReceiptTime: string | null;
}

/** What the engine remembers of a replica that does not stream (EngineMemory.receiver). */
export interface ReceiverMemory {
  /** The member (or remote primary) it should stream from. */
  upstream: string;
  /** Monotonic ms since when it has not streamed from `upstream`. */
  since: number;
  /** The last repair step taken (0: none yet; 1 re-point, 2 restart the receiver, 3 rejoin). */
  step: 0 | 1 | 2 | 3;
  /** Monotonic ms of the last repair step; the next one waits a whole bound after it. */
  stepAt: number | null;
}

/** The bound, ms; 0 = detection and repair are off. */
export function notStreamingBoundMs(config: Pick<EngineConfig, 'replicaNotStreamingTimeout' | 'ttl' | 'loopWait'>): number {
  const configured = config.replicaNotStreamingTimeout;
  return (configured ?? config.ttl + config.loopWait) * 1000;
}

/** The receiver streams from `target` (an unknown sender address does not count against it). */
export function streamsFrom(receiver: WalReceiverState, target: FollowTarget): boolean {
  if (receiver.status !== 'streaming') return false;
  return sameAddress(receiver.senderHost, receiver.senderPort, target);
}

/** `primary_conninfo` names an upstream other than `target`. Unknown parts do not count. */
export function conninfoNamesOther(receiver: WalReceiverState, target: FollowTarget): boolean {
  return !sameAddress(receiver.conninfoHost, receiver.conninfoPort, target);
}

function sameAddress(host: string | null, port: number | null, target: FollowTarget): boolean {
  const address = target.connUrl ? parseConnUrl(target.connUrl) : null;
  if (!address) return true;
  if (port !== null && port !== address.port) return false;
  return host === null || host.toLowerCase() === address.host.toLowerCase();
}

/**
 * Whom this replica should stream from, when that can be judged: null when nobody (a primary, no
 * leader, `nostream`, a port that does not report the receiver) or when the upstream's member key
 * does not say it runs — a replica cannot repair an upstream that is down.
 */
function expectedUpstream(ctx: Ctx): FollowTarget | null {
  const { s } = ctx;
  // In maintenance mode the paused rule decides first: a replica is reported, never repaired.
  if (s.local.walReceiver === undefined) return null;
  if (ctx.holder && !s.config.standbyCluster) return null;
  const choice = followChoice(ctx);
  if (choice.kind !== 'member' || choice.target.noStream || !choice.target.connUrl) return null;
  if (choice.target.remote) return choice.target;
  const member: Member | undefined = ctx.cluster.members.find((m) => m.name === choice.target.name);
  return member?.data.state === 'running' ? choice.target : null;
}

/** A moment when the receiver cannot be judged (PostgreSQL stopped, starting, or busy with an action). */
function inTransit(ctx: Ctx): boolean {
  const local: LocalPostgresState = ctx.s.local;
  return ctx.s.running !== null || local.unknown !== undefined || !local.running || local.state !== 'running' || local.role !== 'replica';
}

/**
 * This cycle's memory of a replica that does not stream: kept as it is while the receiver cannot
 * be judged (a repair step restarting PostgreSQL must not reset the escalation), dropped once it
 * streams from whom it should or there is nobody to stream from, started when it first does not.
 */
export function observeReceiver(ctx: Ctx): ReceiverMemory | null {
  const previous = ctx.memory.receiver ?? null;
  if (ctx.isPrimary) return null;
  if (inTransit(ctx)) return previous;
  const target = expectedUpstream(ctx);
  const receiver = ctx.s.local.walReceiver;
  if (!target || !receiver || streamsFrom(receiver, target)) return null;
  if (previous && previous.upstream === target.name) return previous;
  return { upstream: target.name, since: ctx.s.now, step: 0, stepAt: null };
}

/** How long this replica has not streamed from its upstream, ms; null when it does (or cannot be judged). */
export function notStreamingForMs(memory: ReceiverMemory | null | undefined, now: number): number | null {
  return memory ? Math.max(0, now - memory.since) : null;
}

/** Not streaming for longer than the bound: unhealthy for `/replica` and lag checks. */
export function isNotStreamingUnhealthy(memory: ReceiverMemory | null | undefined, now: number, config: Pick<EngineConfig, 'replicaNotStreamingTimeout' | 'ttl' | 'loopWait'>): boolean {
  const bound = notStreamingBoundMs(config);
  const forMs = notStreamingForMs(memory, now);
  return bound > 0 && forMs !== null && forMs > bound;
}

/** The repair step due this cycle, or null (streaming, within the bound, or turned off). */
export function receiverRepair(ctx: Ctx): Outcome | null {
  const { s } = ctx;
  const memory = ctx.memory.receiver ?? null;
  const bound = notStreamingBoundMs(s.config);
  const receiver = s.local.walReceiver;
  if (!memory || bound === 0 || !receiver || inTransit(ctx)) return null;
  if (s.now - (memory.stepAt ?? memory.since) <= bound) return null;
  const target = expectedUpstream(ctx);
  if (!target || target.name !== memory.upstream) return null;
  const seconds = Math.round((s.now - memory.since) / 1000);
  const what = `not streaming from ${target.name} for ${seconds} s`;
  const next = (step: ReceiverMemory['step']): Partial<{ receiver: ReceiverMemory }> => ({ receiver: { ...memory, step, stepAt: s.now } });
  const wrongUpstream = conninfoNamesOther(receiver, target) || s.local.following !== target.name;
  // After a rejoin (or, for a remote upstream, a restart) the whole sequence again: whatever broke
  // may have broken again.
  const from = memory.step === 3 || (memory.step === 2 && target.remote) ? 0 : memory.step;
  if (from === 0 && wrongUpstream) {
    return {
      code: 'receiver.repoint',
      reason: `${what}: changing primary_conninfo to ${target.name} and reloading`,
      actions: [{ kind: 'follow', target: followTarget(ctx) ?? target, label: `changing primary_conninfo to ${target.name}` }],
      memory: next(1),
    };
  }
  if (from <= 1) {
    if (receiver.pid !== null) {
      return {
        code: 'receiver.restart',
        reason: `${what}: restarting the WAL receiver`,
        actions: [{ kind: 'restart_wal_receiver', pid: receiver.pid }],
        memory: next(2),
      };
    }
    return {
      code: 'receiver.restart-postgres',
      reason: `${what}: no WAL receiver runs; restarting PostgreSQL`,
      actions: [{ kind: 'restart', label: 'restarting PostgreSQL to restart the WAL receiver' }],
      memory: next(2),
    };
  }
  return rejoinStep(ctx, what, next(3));
}

/** Step 3: rewind or re-clone by the rejoin settings, as a diverged replica would be. */
function rejoinStep(ctx: Ctx, what: string, memory: Partial<{ receiver: ReceiverMemory }>): Outcome {
  const { s } = ctx;
  // From the leader, as every rejoin (a `replicatefrom` replica is re-pointed after it).
  const leader = ctx.leaderName ?? '';
  const source = targetOf(ctx, ctx.cluster.members.find((m) => m.name === leader), leader);
  const rewindFailed = ctx.memory.rewindFailed !== null && ctx.memory.rewindFailed.leader === ctx.leaderName;
  if (s.config.usePgRewind && s.local.rewindPossible && !rewindFailed) {
    return {
      code: 'receiver.rewind',
      reason: `${what}: running pg_rewind from ${leader}`,
      actions: [{ kind: 'rewind', source, label: `running pg_rewind from ${leader}` }],
      memory,
    };
  }
  if (s.config.removeDataDirectoryOnDivergedTimelines || (rewindFailed && s.config.removeDataDirectoryOnRewindFailure)) {
    return {
      code: 'receiver.reinitialize',
      reason: `${what}: reinitializing from ${leader}`,
      actions: [{ kind: 'reinitialize', source, follow: followTarget(ctx), label: `reinitializing from ${leader}` }],
      memory,
    };
  }
  return {
    code: 'receiver.stuck',
    reason: `${what}: cannot rejoin automatically`,
    actions: [],
    notes: ['pg_rewind is not allowed or not possible and removing the data directory is not allowed (use_pg_rewind, remove_data_directory_on_diverged_timelines)'],
    memory,
  };
}
