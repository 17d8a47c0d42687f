/**
 * The lock holder's obligations, in one place: whether we hold the leader lock (and telling the
 * listeners at once when that changes), the safety deadline re-armed by each acquire or renewal,
 * fencing PostgreSQL when it passes, and the watchdog's arming.
 */
import type { Logger } from '@pgha/dcs';
import type { LongAction } from '../core/actions.js';
import { fencePlan, startsWritable } from '../core/lease.js';
import type { LocalPostgresState } from '../core/snapshot.js';
import type { BackgroundSlot } from './background.js';
import type { Runtime } from './context.js';
import { dcsCall } from './context.js';
import { errorMessage, withDeadline } from './deadline.js';
import { SafetyDeadline } from './safety.js';
import { Listeners } from './status.js';

/** Pause between fencing attempts that could not confirm PostgreSQL down. */
const FENCE_RETRY_MS = 1000;
/**
 * A watchdog call that takes longer is counted as failed: the device is a local file, and a
 * write stuck for 5 s means the driver is broken, not slow.
 */
const WATCHDOG_CALL_MS = 5000;

export type WatchdogCall = 'activate' | 'keepalive' | 'disable';

export class LeaseGuard {
  readonly #rt: Runtime;
  readonly #slot: BackgroundSlot;
  readonly #lastLocal: () => LocalPostgresState | null;
  readonly #wakeup: () => void;
  readonly #safety: SafetyDeadline;
  readonly #listeners: Listeners<boolean>;
  #held = false;
  /** The last watchdog call was a successful activate (keepalives follow), not a disable. */
  #watchdogArmed = false;
  /** A promote / primary start / bootstrap / restart began since the last state read. */
  #maybeWritableSinceRead = false;
  /** The fence's attempts until PostgreSQL is confirmed down; null when no fence runs. */
  #fencing: Promise<void> | null = null;
  /** Monotonic ms of the last successful acquire or renewal; null before the first. */
  #renewedAt: number | null = null;

  constructor(rt: Runtime, deps: { slot: BackgroundSlot; lastLocal: () => LocalPostgresState | null; wakeup: () => void }) {
    this.#rt = rt;
    this.#slot = deps.slot;
    this.#lastLocal = deps.lastLocal;
    this.#wakeup = deps.wakeup;
    this.#safety = new SafetyDeadline(rt.clock, (deadline) => this.#fence(deadline));
    this.#listeners = new Listeners<boolean>(rt.log, 'a lock-change listener failed');
  }

  get held(): boolean {
    return this.#held;
  }

  /** Monotonic ms of the last successful acquire or renewal (metrics); null before the first. */
  get renewedAt(): number | null {
    return this.#renewedAt;
  }

  get watchdogArmed(): boolean {
    return this.#watchdogArmed;
  }

  onChange(listener: (held: boolean) => void): () => void {
    return this.#listeners.add(listener);
  }

  setHeld(held: boolean): void {
    const changed = this.#held !== held;
    this.#held = held;
    if (changed) this.#listeners.emit(held);
  }

  /** An acquire or renewal succeeded: the lease is ours until the store's `validUntil`. */
  gained(): void {
    this.#renewedAt = this.#rt.clock.now();
    this.setHeld(true);
    this.#safety.arm(this.#rt.store.hold().validUntil, this.#rt.config.safetyMargin * 1000);
  }

  /** The members' acknowledgements stand in for the lease until `validUntil`, as a renewal would. */
  heldUntil(validUntil: number): void {
    this.setHeld(true);
    this.#safety.arm(validUntil, this.#rt.config.safetyMargin * 1000);
  }

  /** The key is gone or names someone else: whatever we believed, we do not hold the lock. */
  lost(): void {
    this.setHeld(false);
    this.#safety.disarm();
  }

  /** Stops watching the deadline (the loop stops; PostgreSQL is left as it is). */
  disarm(): void {
    this.#safety.disarm();
  }

  async release(): Promise<void> {
    try {
      await dcsCall(this.#rt, 'release the leader lock', (o) => this.#rt.store.releaseLeader(o));
      this.#rt.log.info('Leader key released');
    } catch (e) {
      this.#rt.log.warn({ err: errorMessage(e) }, 'failed to release the leader lock');
    }
    this.lost();
  }

  /** PostgreSQL's state was read: what it shows replaces the guess made when an action began. */
  stateRead(): void {
    this.#maybeWritableSinceRead = false;
  }

  /** A long action began: remember it when it may make PostgreSQL writable (core/lease.ts). */
  began(action: LongAction): void {
    if (startsWritable(action)) this.#maybeWritableSinceRead = true;
  }

  async watchdog(what: WatchdogCall): Promise<boolean> {
    if (what === 'disable') this.#watchdogArmed = false;
    try {
      const r = await withDeadline(this.#rt.clock, WATCHDOG_CALL_MS, `watchdog ${what}`, () =>
        what === 'activate' ? this.#rt.watchdog.activate() : this.#rt.watchdog[what]().then(() => true),
      );
      if (what === 'activate') this.#watchdogArmed = r;
      return r;
    } catch (e) {
      this.#rt.log.error({ err: errorMessage(e) }, `watchdog ${what} failed`);
      return false;
    }
  }

  /** The safety deadline passed without a renewal: stop PostgreSQL now if it may take writes. */
  #fence(deadline: number): void {
    const rt = this.#rt;
    this.setHeld(false);
    const plan = fencePlan({
      startedWritable: this.#maybeWritableSinceRead,
      local: this.#lastLocal(),
      running: this.#slot.running,
      paused: rt.config.pause,
    });
    if (plan.kind === 'skip' && plan.why === 'not-writable') {
      rt.log.warn({ deadline }, 'leader lock could not be renewed in time; PostgreSQL is not a primary, nothing to fence');
      return;
    }
    if (plan.kind === 'skip') {
      rt.log.warn({ deadline }, 'leader lock could not be renewed in time; not stopping PostgreSQL because the cluster is paused');
      return;
    }
    rt.log.error(
      { deadline, validUntil: rt.store.hold().validUntil },
      'leader lock could not be renewed before the safety deadline: stopping PostgreSQL (immediate)',
    );
    // Not through the slot: this must not wait behind a hung background action. The abort also
    // keeps an aborted start or restart from bringing the server back up after the kill.
    void this.#slot.abort();
    // One round of attempts at a time: a later deadline joins the one already running.
    if (this.#fencing === null) this.#fencing = this.#fenceUntilDown(rt.log).finally(() => (this.#fencing = null));
  }

  /**
   * Kills PostgreSQL through the port's `fence` (which does not wait behind the running action),
   * again and again until it is confirmed down. Only then is the watchdog disarmed: while the
   * fence cannot complete, the watchdog stays armed and, keepalives having stopped with the
   * renewals, resets the machine before another member's lease can start.
   */
  async #fenceUntilDown(log: Logger): Promise<void> {
    const rt = this.#rt;
    const attemptMs = Math.max(1000, rt.config.safetyMargin * 1000);
    for (let attempt = 1; !rt.stopped; attempt++) {
      try {
        await withDeadline(rt.clock, attemptMs, 'fencing PostgreSQL', (signal) => rt.postgres.fence(signal));
        log.info({ attempt }, 'PostgreSQL fenced (stopped)');
        await this.watchdog('disable');
        this.#wakeup();
        return;
      } catch (e) {
        log.error({ err: errorMessage(e), attempt }, 'fencing PostgreSQL failed; trying again; the watchdog stays armed');
      }
      await rt.clock.sleep(FENCE_RETRY_MS);
    }
  }
}
