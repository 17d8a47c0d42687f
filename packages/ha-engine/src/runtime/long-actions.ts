/**
 * Long PostgreSQL actions: starting one in the background slot, and its body, step by step.
 * A step checks the action's AbortSignal before it begins, so an aborted action stops between
 * steps; the port calls themselves get the signal too.
 */
import type { FollowTarget, LongAction } from '../core/actions.js';
import { describeAction } from '../core/actions.js';
import type { ActionOutcome } from '../core/snapshot.js';
import type { BackgroundSlot } from './background.js';
import type { Runtime } from './context.js';
import { startTimeoutMs } from './context.js';
import type { LeaseGuard } from './lease-guard.js';

export class LongActions {
  readonly #rt: Runtime;
  readonly #slot: BackgroundSlot;
  readonly #lease: LeaseGuard;

  constructor(rt: Runtime, slot: BackgroundSlot, lease: LeaseGuard) {
    this.#rt = rt;
    this.#slot = slot;
    this.#lease = lease;
  }

  /** Starts `action` in the slot; `false` when another one runs and this one may not preempt it. */
  start(action: LongAction): 'ok' | 'false' {
    const result = this.#slot.start(action, (signal) => this.#work(action, signal));
    if (result === 'busy') {
      this.#rt.log.warn({ action: describeAction(action) }, `not starting ${action.label}: ${this.#slot.running?.label} in progress`);
      return 'false';
    }
    this.#lease.began(action);
    return 'ok';
  }

  /** The body of a background action. */
  async #work(action: LongAction, signal: AbortSignal): Promise<void> {
    const rt = this.#rt;
    const pg = rt.postgres;
    const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
      if (signal.aborted) throw new Error(`aborted before ${what}`);
      await fn();
    };
    const startReplica = (follow: FollowTarget | null): Promise<void> =>
      step('starting as a replica', () => pg.start({ role: 'replica', follow, timeoutMs: startTimeoutMs(rt) }, signal));
    switch (action.kind) {
      case 'bootstrap':
        return step('bootstrap', () => pg.bootstrap(signal));
      case 'create_replica':
        await step('clone', () => pg.createReplica(action.source, signal));
        return startReplica(action.follow);
      case 'start':
        return step('start', () => pg.start({ role: action.role, follow: action.follow, timeoutMs: action.timeoutMs }, signal));
      case 'stop':
        return step('stop', () => pg.stop({ mode: action.mode }, signal));
      case 'restart': {
        const copy = action.copyLogicalSlots;
        if (copy) await step('copying logical slots', () => pg.copyLogicalSlots(copy.source, copy.slots, signal));
        return step('restart', () => pg.restart(signal));
      }
      case 'promote':
        return step('promote', () => pg.promote(signal));
      case 'follow':
        return step('follow', () => pg.follow(action.target, signal));
      case 'rewind':
        await step('pg_rewind', () => pg.rewind(action.source, signal));
        return startReplica(action.source);
      case 'reinitialize':
        await step('stop', () => pg.stop({ mode: 'immediate' }, signal));
        await step('remove the data directory', () => pg.removeDataDirectory(signal));
        await step('clone', () => pg.createReplica(action.source, signal));
        return startReplica(action.follow);
      case 'demote': {
        const immediate = action.mode === 'immediate' || action.mode === 'immediate-nolock';
        rt.log.info(`Demoting self (${action.mode})`);
        const stopping = rt.clock.now();
        // Not abortable: a demote that has begun must bring PostgreSQL down.
        await pg.stop({ mode: immediate ? 'immediate' : 'fast', checkpoint: action.mode === 'graceful' }, new AbortController().signal);
        rt.log.info({ ms: Math.round(rt.clock.now() - stopping) }, 'PostgreSQL stopped');
        // Disarmed only now (Patroni's safepoint): during the CHECKPOINT and the stop the server
        // may still take writes, and if the lock is lost meanwhile the keepalives stop and the
        // watchdog must be there to fire. A stop that fails leaves it armed.
        await this.#lease.watchdog('disable');
        if (action.mode === 'graceful' || action.mode === 'immediate') await this.#lease.release();
        return startReplica(action.follow);
      }
    }
  }
}

/**
 * Logs a settled action. Success moves things forward at once (`wakeup`); a failure waits for
 * the next regular cycle, so a failing action is not retried in a tight loop.
 */
export function settled(rt: Runtime, outcome: ActionOutcome, wakeup: () => void): void {
  const log = outcome.ok ? rt.log.info.bind(rt.log) : rt.log.warn.bind(rt.log);
  log(
    { action: outcome.label, ok: outcome.ok, err: outcome.error, ms: Math.round(outcome.finishedAt - outcome.startedAt) },
    `${outcome.label}: ${outcome.ok ? 'done' : `failed: ${outcome.error}`}`,
  );
  if (outcome.ok && !rt.stopped) wakeup();
}
