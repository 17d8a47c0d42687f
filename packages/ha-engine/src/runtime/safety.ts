/**
 * The lock holder's safety deadline (architecture.md, safety model). After every successful
 * acquire or renewal the loop re-arms it at `validUntil − margin`: the last moment the lease is
 * certainly still ours on the server, less the time fencing may take. If no renewal moves it
 * before then, the timer calls `fence` — whatever the HA loop is doing (a cycle stuck on a slow
 * DCS, a long action) — so PostgreSQL stops taking writes before another member can get the lock.
 * It runs on the injected clock, so tests drive it with a fake one.
 */
import type { Clock } from './ports.js';

export class SafetyDeadline {
  readonly #clock: Clock;
  readonly #fence: (deadline: number) => void;
  #deadline: number | null = null;
  #timer: AbortController | null = null;

  constructor(clock: Clock, fence: (deadline: number) => void) {
    this.#clock = clock;
    this.#fence = fence;
  }

  /** The armed deadline (monotonic ms), or null. */
  get deadline(): number | null {
    return this.#deadline;
  }

  /** (Re)arms at `validUntil − marginMs`; a null `validUntil` (no live session) fires at once. */
  arm(validUntil: number | null, marginMs: number): void {
    this.disarm();
    const deadline = validUntil === null ? this.#clock.now() : validUntil - marginMs;
    this.#deadline = deadline;
    const timer = new AbortController();
    this.#timer = timer;
    void this.#wait(deadline, timer.signal);
  }

  disarm(): void {
    this.#timer?.abort();
    this.#timer = null;
    this.#deadline = null;
  }

  async #wait(deadline: number, signal: AbortSignal): Promise<void> {
    // Timers may fire a little early; sleep again until the clock has really passed the deadline.
    while (!signal.aborted && this.#clock.now() < deadline) {
      await this.#clock.sleep(deadline - this.#clock.now(), signal);
    }
    if (signal.aborted || this.#deadline !== deadline) return;
    this.#deadline = null;
    this.#timer = null;
    this.#fence(deadline);
  }
}
