/**
 * Long PostgreSQL actions: starting one in the background slot, and its body, step by step.
 * A step checks the action's AbortSignal before it begins, so an aborted action stops between
 * steps; the port calls themselves get the signal too.
 */
import type { LongAction } from '../core/actions.js';
import { describeAction } from '../core/actions.js';
import type { LongActionStep } from '../core/long-action-steps.js';
import { longActionSteps } from '../core/long-action-steps.js';
import type { ActionOutcome } from '../core/snapshot.js';
import type { BackgroundSlot } from './background.js';
import type { Runtime } from './context.js';
import { startTimeoutMs } from './context.js';
import { primaryStopTimeoutMs } from '../core/config.js';
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

  /** The body of a background action: its steps (core/long-action-steps.ts), in order. */
  async #work(action: LongAction, signal: AbortSignal): Promise<void> {
    if (action.kind === 'demote') this.#rt.log.info(`Demoting self (${action.mode})`);
    for (const step of longActionSteps(action, startTimeoutMs(this.#rt), primaryStopTimeoutMs(this.#rt.config))) await this.#step(step, signal);
  }

  /** One step; an abortable step checks the signal before it begins. */
  async #step(step: LongActionStep, signal: AbortSignal): Promise<void> {
    const rt = this.#rt;
    const pg = rt.postgres;
    if (abortableStep(step) && signal.aborted) throw new Error(`aborted before ${step.kind === 'start' ? step.what : STEP_NAMES[step.kind]}`);
    switch (step.kind) {
      case 'bootstrap':
        return pg.bootstrap(signal);
      case 'clone':
        return pg.createReplica(step.source, signal);
      case 'start':
        return pg.start({ role: step.role, follow: step.follow, timeoutMs: step.timeoutMs }, signal);
      case 'stop': {
        if (step.abortable) return pg.stop({ mode: step.mode }, signal);
        const stopping = rt.clock.now();
        await pg.stop({ mode: step.mode, checkpoint: step.checkpoint === true, ...(step.timeoutMs !== undefined ? { timeoutMs: step.timeoutMs } : {}) }, new AbortController().signal);
        rt.log.info({ ms: Math.round(rt.clock.now() - stopping) }, 'PostgreSQL stopped');
        return;
      }
      case 'copy_logical_slots':
        return pg.copyLogicalSlots(step.source, step.slots, signal);
      case 'restart':
        return pg.restart(signal);
      case 'promote':
        return pg.promote(signal);
      case 'follow':
        return pg.follow(step.target, signal);
      case 'rewind':
        return pg.rewind(step.source, signal);
      case 'remove_data_directory':
        return pg.removeDataDirectory(signal);
      case 'disable_watchdog':
        await this.#lease.watchdog('disable');
        return;
      case 'release_lock':
        return this.#lease.release();
    }
  }
}

/** How a step is named in "aborted before ..." (the action's failure reason). */
const STEP_NAMES: Record<Exclude<LongActionStep['kind'], 'start'>, string> = {
  bootstrap: 'bootstrap',
  clone: 'clone',
  stop: 'stop',
  copy_logical_slots: 'copying logical slots',
  restart: 'restart',
  promote: 'promote',
  follow: 'follow',
  rewind: 'pg_rewind',
  remove_data_directory: 'remove the data directory',
  disable_watchdog: 'disabling the watchdog',
  release_lock: 'releasing the leader lock',
};

/**
 * Whether an abort stops the action before `step`. Not before a demote's stop (once begun it must
 * bring PostgreSQL down), nor before what a stopped primary owes: disarming the watchdog and
 * releasing the lock.
 */
function abortableStep(step: LongActionStep): boolean {
  if (step.kind === 'stop') return step.abortable;
  return step.kind !== 'disable_watchdog' && step.kind !== 'release_lock';
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
