/**
 * When cycles run: every `loop_wait` seconds (less the time the cycle took, or sooner when the
 * decision asks), on DCS watch events for the keys that change a decision, and on `wakeup()`.
 */
import { wakesLoop } from '../core/wake-events.js';
import type { Runtime } from './context.js';
import { errorMessage } from './deadline.js';

export class Scheduler {
  readonly #rt: Runtime;
  /** Runs one cycle; resolves with the decision's `wakeAfterMs`. */
  readonly #cycle: () => Promise<number | undefined>;
  readonly #holdsLock: () => boolean;
  #started = false;
  #done: Promise<void> | null = null;
  #wake: AbortController | null = null;
  #wakePending = false;
  #unwatch: (() => void) | null = null;

  constructor(rt: Runtime, deps: { cycle: () => Promise<number | undefined>; holdsLock: () => boolean }) {
    this.#rt = rt;
    this.#cycle = deps.cycle;
    this.#holdsLock = deps.holdsLock;
  }

  /** Resolves once the loop has ended (after `halt`). */
  get done(): Promise<void> | null {
    return this.#done;
  }

  start(): void {
    if (this.#started || this.#rt.stopped) return;
    this.#started = true;
    // Which events wake the loop is a rule of the core (wake-events.ts).
    this.#unwatch = this.#rt.store.watch((event) => {
      if (wakesLoop(event, { holdsLock: this.#holdsLock() })) this.wakeup();
    });
    this.#done = this.#run();
  }

  wakeup(): void {
    if (this.#wake) this.#wake.abort();
    else this.#wakePending = true;
  }

  /** Stops cycling: no new cycle starts; the one in progress finishes. */
  halt(): void {
    this.#rt.stopped = true;
    this.#unwatch?.();
    this.#unwatch = null;
    this.#wake?.abort();
  }

  async #run(): Promise<void> {
    const rt = this.#rt;
    const { clock } = rt;
    while (!rt.stopped) {
      const began = clock.now();
      let wakeAfter: number | undefined;
      try {
        wakeAfter = await this.#cycle();
      } catch (e) {
        rt.log.error({ err: errorMessage(e) }, 'Unexpected exception raised, please report it as a BUG');
      }
      if (rt.stopped) break;
      const elapsed = clock.now() - began;
      let wait = rt.config.loopWait * 1000 - elapsed;
      if (wait <= 0) rt.log.info('Loop time exceeded, rescheduling immediately.');
      if (wakeAfter !== undefined) wait = Math.min(wait, wakeAfter);
      await this.#sleep(Math.max(0, wait));
    }
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#wakePending) {
      this.#wakePending = false;
      return;
    }
    const wake = new AbortController();
    this.#wake = wake;
    await this.#rt.clock.sleep(ms, wake.signal);
    this.#wake = null;
  }
}
