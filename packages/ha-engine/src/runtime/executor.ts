/**
 * Running a decision's actions through the ports, in order. DCS calls and the short PostgreSQL
 * calls run inline, each bounded; long ones go to the background slot (long-actions.ts). A
 * guarded action that does not succeed switches to its `otherwise` (actions.ts, guards).
 */
import type { Action, Otherwise, SlotPlan } from '../core/actions.js';
import { describeAction } from '../core/actions.js';
import { mergeHistory } from '../core/history.js';
import { watchdogAfterRenewal } from '../core/lease.js';
import { slotRepairPlan } from '../core/slots.js';
import type { ReasonCode } from '../core/reason-codes.js';
import type { IntentKind, Snapshot } from '../core/snapshot.js';
import { isDcsUnavailable } from '../core/snapshot.js';
import type { BackgroundSlot } from './background.js';
import type { Runtime } from './context.js';
import { dcsCall, dcsTimeoutMs } from './context.js';
import { errorMessage, withDeadline } from './deadline.js';
import type { FailsafeState } from './failsafe-state.js';
import type { LeaseGuard } from './lease-guard.js';
import type { LongActions } from './long-actions.js';

type Result = 'ok' | 'false' | 'error';

export interface ExecutorDeps {
  slot: BackgroundSlot;
  lease: LeaseGuard;
  longActions: LongActions;
  failsafe: FailsafeState;
  consumeIntent(intent: IntentKind): void;
  /** An `exit` action: stop cycling and tell the agent. */
  exit(message: string): void;
}

/** The reason and code that stand for a cycle once its guards ran. */
export interface Standing {
  reason: string;
  code: ReasonCode;
}

export class Executor {
  readonly #rt: Runtime;
  readonly #d: ExecutorDeps;
  /** The `checkpoint` action still running (it is not waited for). */
  #checkpoint: Promise<void> | null = null;

  constructor(rt: Runtime, deps: ExecutorDeps) {
    this.#rt = rt;
    this.#d = deps;
  }

  /** True while a `checkpoint` action runs (the snapshot's `checkpointRunning`). */
  get checkpointRunning(): boolean {
    return this.#checkpoint !== null;
  }

  /** Runs `actions` in order; a guard that does not succeed switches to its `otherwise`. */
  async execute(actions: Action[], reason: Standing, s: Snapshot, executed: string[]): Promise<Standing> {
    for (const action of actions) {
      if (this.#rt.stopped) break;
      executed.push(describeAction(action));
      const result = await this.#perform(action, s);
      if (result === 'ok') continue;
      const alternative = alternativeFor(action, result);
      if (alternative) {
        this.#rt.log.info({ action: describeAction(action), result }, `${describeAction(action)} did not succeed: ${alternative.reason}`);
        return this.execute(alternative.actions, { reason: alternative.reason, code: alternative.code }, s, executed);
      }
    }
    return reason;
  }

  async #perform(action: Action, s: Snapshot): Promise<Result> {
    const rt = this.#rt;
    const { store } = rt;
    const { lease } = this.#d;
    const dcs = <T>(what: string, call: (o: { timeoutMs: number }) => Promise<T>): Promise<T> => dcsCall(rt, what, call);
    const asResult = async (what: string, call: () => Promise<boolean>): Promise<Result> => {
      try {
        return (await call()) ? 'ok' : 'false';
      } catch (e) {
        rt.log.warn({ err: errorMessage(e) }, `failed to ${what}`);
        return 'error';
      }
    };
    switch (action.kind) {
      case 'acquire_lock': {
        const r = await asResult('acquire the leader lock', () => dcs('acquire the leader lock', (o) => store.acquireLeader(o)));
        if (r === 'ok') lease.gained();
        if (r === 'false') lease.setHeld(false);
        return r;
      }
      case 'renew_lock': {
        const status = action.status ?? undefined;
        const r = await asResult('update the leader lock', () => dcs('update the leader lock', (o) => store.updateLeader(status, o)));
        if (r === 'ok') {
          lease.gained();
          // Facts as they are now, not at the snapshot: the lease guard or a settled action may
          // have changed them during the cycle (core/lease.ts has the rule).
          const call = watchdogAfterRenewal({ armed: lease.watchdogArmed, paused: s.config.pause, running: this.#d.slot.running });
          if (call !== 'none') await lease.watchdog(call);
        }
        if (r === 'false') lease.setHeld(false);
        return r;
      }
      case 'release_lock':
        await lease.release();
        return 'ok';
      case 'attempt_initialize':
        return asResult('race for the initialize key', () => dcs('create the initialize key', (o) => store.attemptToInitialize(o)));
      case 'set_initialize':
        return asResult('write the initialize key', () => dcs('write the initialize key', (o) => store.setInitialize(action.sysid, action.expectVersion, o)));
      case 'cancel_initialize':
        return asResult('remove the initialize key', () => dcs('remove the initialize key', (o) => store.cancelInitialization(o)));
      case 'write_config':
        return asResult('write the config key', () => dcs('write the config key', (o) => store.setConfig(action.config, null, o)));
      case 'clear_failover':
        return asResult('clear the failover key', () => dcs('clear the failover key', (o) => store.clearFailover(action.expectVersion, o)));
      case 'write_history':
        return asResult('write the history key', () => this.#writeHistory(action, s));
      case 'probe_peers':
      case 'failsafe_check':
        return 'ok';
      case 'failsafe_hold':
        // As a renewal would: the members' acknowledgements stand in for the lease until then.
        lease.heldUntil(action.validUntil);
        this.#d.failsafe.hold(action.validUntil);
        await lease.watchdog('keepalive');
        return 'ok';
      case 'write_failsafe':
        return asResult('write the failsafe key', () => dcs('write the failsafe key', (o) => store.setFailsafe(action.topology, o)));
      case 'activate_watchdog':
        return (await lease.watchdog('activate')) ? 'ok' : 'false';
      case 'disable_watchdog':
        await lease.watchdog('disable');
        return 'ok';
      case 'exit':
        this.#d.exit(action.message);
        return 'ok';
      case 'sync_slots': {
        const sync = (plan: SlotPlan) => withDeadline(rt.clock, dcsTimeoutMs(rt), 'syncing replication slots', (signal) => rt.postgres.syncSlots(plan, signal));
        try {
          const report = await sync(action.plan);
          const failures = [...report.failures];
          // What a failed step calls for is the core's rule (a copy whose WAL is gone is dropped).
          const repair = slotRepairPlan(report);
          if (repair) failures.push(...(await sync(repair)).failures);
          if (failures.length > 0) rt.log.warn({ err: failures.join('\n') }, 'failed to sync the replication slots');
        } catch (e) {
          rt.log.warn({ err: errorMessage(e) }, 'failed to sync the replication slots');
        }
        return 'ok';
      }
      case 'write_sync':
        return asResult('write the sync key', () =>
          dcs('write the sync key', (o) => store.setSync({ leader: action.leader, sync_standby: action.standbys, quorum: action.quorum }, action.expectVersion, o)),
        );
      case 'delete_sync':
        return asResult('delete the sync key', () => dcs('delete the sync key', (o) => store.deleteSync(action.expectVersion, o)));
      case 'set_synchronous_standby_names':
        return asResult('set synchronous_standby_names', async () => {
          await withDeadline(rt.clock, dcsTimeoutMs(rt), 'setting synchronous_standby_names', (signal) =>
            rt.postgres.setSynchronousStandbyNames(action.setting, signal),
          );
          return true;
        });
      case 'checkpoint':
        this.#startCheckpoint();
        return 'ok';
      case 'consume_intent':
        this.#d.consumeIntent(action.intent);
        return 'ok';
      case 'restart_wal_receiver':
        // Unguarded: a receiver that could not be signalled is still not streaming, and the next
        // bound escalates (wal-receiver.ts).
        try {
          await withDeadline(rt.clock, dcsTimeoutMs(rt), 'restarting the WAL receiver', (signal) => rt.postgres.restartWalReceiver(action.pid, signal));
        } catch (e) {
          rt.log.warn({ err: errorMessage(e) }, 'failed to restart the WAL receiver');
        }
        return 'ok';
      default:
        return this.#d.longActions.start(action);
    }
  }

  /** Starts the CHECKPOINT after promote; the cycles go on meanwhile, a failure is retried by a later one. */
  #startCheckpoint(): void {
    const rt = this.#rt;
    if (this.#checkpoint) return;
    this.#checkpoint = rt.postgres
      .checkpoint(new AbortController().signal)
      .then(
        () => rt.log.info('CHECKPOINT after promote done'),
        (e: unknown) => rt.log.warn({ err: errorMessage(e) }, 'CHECKPOINT after promote failed'),
      )
      .finally(() => {
        this.#checkpoint = null;
      });
  }

  async #writeHistory(action: Extract<Action, { kind: 'write_history' }>, s: Snapshot): Promise<boolean> {
    const rt = this.#rt;
    const fromFiles = await withDeadline(rt.clock, dcsTimeoutMs(rt), 'reading the timeline history', (signal) => rt.postgres.timelineHistory(signal));
    const existing = isDcsUnavailable(s.cluster) ? [] : (s.cluster.history?.value ?? []);
    const history = mergeHistory({
      fromFiles,
      existing,
      newLeader: action.newLeader,
      nowIso: new Date(rt.clock.wallNow()).toISOString(),
      maxLines: action.maxLines,
    });
    return dcsCall(rt, 'write the history key', (o) => rt.store.setHistory(history, action.expectVersion, o));
  }
}

/** The branch a guarded action takes when it did not succeed (none for unguarded actions). */
function alternativeFor(action: Action, result: 'false' | 'error'): Otherwise | undefined {
  if (!('otherwise' in action) && !('onError' in action)) return undefined;
  const guard: { otherwise?: Otherwise; onError?: Otherwise } = action;
  return result === 'error' ? (guard.onError ?? guard.otherwise) : guard.otherwise;
}
