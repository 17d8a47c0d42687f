/**
 * The background slot: runs one long PostgreSQL action at a time (Patroni's `AsyncExecutor`),
 * so the loop can keep renewing the lock while a basebackup, a rewind or a restart runs.
 */
import type { LongAction } from '../core/actions.js';
import type { Clock } from './ports.js';
import type { ActionOutcome, RunningAction } from '../core/snapshot.js';
import { errorMessage } from './deadline.js';

type Work = (signal: AbortSignal) => Promise<void>;

interface Job {
  action: LongAction;
  work: Work;
}

interface Current extends Job {
  startedAt: number;
  controller: AbortController;
  done: Promise<void>;
}

export type StartResult = 'started' | 'queued' | 'busy';

export class BackgroundSlot {
  readonly #clock: Clock;
  readonly #onSettled: (outcome: ActionOutcome) => void;
  #current: Current | null = null;
  #queued: Job | null = null;
  #last: ActionOutcome | null = null;

  constructor(clock: Clock, onSettled: (outcome: ActionOutcome) => void) {
    this.#clock = clock;
    this.#onSettled = onSettled;
  }

  get running(): RunningAction | null {
    const c = this.#current;
    if (!c) return null;
    return { kind: c.action.kind, label: c.action.label, startedAt: c.startedAt, ...(c.action.kind === 'start' ? { role: c.action.role } : {}) };
  }

  get last(): ActionOutcome | null {
    return this.#last;
  }

  /**
   * Starts `work` now if the slot is free. If it is busy, a `preempt` action aborts the running
   * one and runs as soon as it has settled (replacing anything queued); others are refused.
   */
  start(action: LongAction, work: Work): StartResult {
    if (!this.#current) {
      this.#launch({ action, work });
      return 'started';
    }
    if (!action.preempt) return 'busy';
    this.#queued = { action, work };
    this.#current.controller.abort();
    return 'queued';
  }

  /** Aborts the running action and drops the queued one; resolves when the slot is idle. */
  async abort(): Promise<void> {
    this.#queued = null;
    const c = this.#current;
    if (!c) return;
    c.controller.abort();
    await c.done;
  }

  /** Resolves once no action runs or waits. */
  async idle(): Promise<void> {
    while (this.#current) await this.#current.done;
  }

  #launch(job: Job): void {
    const controller = new AbortController();
    const startedAt = this.#clock.now();
    const current: Current = { ...job, startedAt, controller, done: Promise.resolve() };
    this.#current = current;
    current.done = (async () => {
      let outcome: ActionOutcome;
      try {
        await job.work(controller.signal);
        if (controller.signal.aborted) throw new Error('aborted');
        outcome = { kind: job.action.kind, label: job.action.label, ok: true, startedAt, finishedAt: this.#clock.now() };
      } catch (e) {
        outcome = {
          kind: job.action.kind,
          label: job.action.label,
          ok: false,
          error: errorMessage(e),
          startedAt,
          finishedAt: this.#clock.now(),
        };
      }
      this.#last = outcome;
      this.#current = null;
      const next = this.#queued;
      this.#queued = null;
      if (next) this.#launch(next);
      this.#onSettled(outcome);
    })();
  }
}
