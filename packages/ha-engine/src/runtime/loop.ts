/**
 * The HA loop: gather a snapshot, `decide`, run the actions through the ports, log one line.
 *
 * - It wakes every `loop_wait` seconds, on DCS watch events (leader, config, failover), on
 *   `wakeup()` (the REST API after recording an intent), when a background action succeeds, and
 *   when the decision asks (`wakeAfterMs`: a scheduled switchover or restart falling due;
 *   scheduler.ts).
 * - DCS calls run inline, each bounded by `retry_timeout`; reading PostgreSQL's state too; peer
 *   probes by `probeTimeoutMs` (observation.ts). So a cycle always ends, whatever hangs.
 * - PostgreSQL actions run in the background slot, one at a time; cycles go on meanwhile
 *   (executor.ts, long-actions.ts).
 * - The lock holder's safety deadline fences PostgreSQL between cycles if renewals stop
 *   succeeding (lease-guard.ts).
 * - The last cycle's state is kept for the REST API (`status()`, status.ts).
 *
 * This file only composes those parts and runs one cycle's steps in order.
 */
import type { ClusterStore, Logger, MemberData } from '@pgha/dcs';
import { silentLogger } from '@pgha/dcs';
import type { Decision } from '../core/actions.js';
import type { LocalEngineSettings } from '../core/config.js';
import { resolveEngineConfig } from '../core/config.js';
import { isSynchronousStandby, shutdownPlan } from '../core/shutdown.js';
import { decide } from '../core/decide.js';
import { DEFAULT_PATRONI_DIALECT } from '../core/patroni-dialect.js';
import type { FailsafeAnswer, FailsafeRequest } from '../core/failsafe-ping.js';
import type { ReasonCode } from '../core/reason-codes.js';
import type { EngineMemory, FailsafeCheck, Intents, IntentKind, MemberIdentity, Snapshot } from '../core/snapshot.js';
import { initialMemory, isDcsUnavailable } from '../core/snapshot.js';
import { BackgroundSlot } from './background.js';
import type { Runtime } from './context.js';
import { boundedWait, dcsCall, startTimeoutMs } from './context.js';
import { errorMessage, withDeadline } from './deadline.js';
import { Executor } from './executor.js';
import { FailsafeState } from './failsafe-state.js';
import { LeaseGuard } from './lease-guard.js';
import { LongActions, settled } from './long-actions.js';
import { Observation } from './observation.js';
import type { Clock, PeerProbe, PostgresPort, WatchdogPort } from './ports.js';
import { nodeClock, nullWatchdog } from './ports.js';
import { Scheduler } from './scheduler.js';
import type { CycleRecord, EngineStatus } from './status.js';
import { engineStatus, Listeners } from './status.js';

/** Patroni polls for its release from `/sync` every 2 s. */
const SYNC_RELEASE_POLL_MS = 2000;

export type { EngineStatus } from './status.js';

/** A PostgreSQL state read alongside a DCS read that took longer than this is read again. */
const FRESH_LOCAL_STATE_MS = 200;

export interface HaLoopOptions {
  me: MemberIdentity;
  store: ClusterStore;
  postgres: PostgresPort;
  peers: PeerProbe;
  watchdog?: WatchdogPort;
  /** Must be the clock the DCS driver was given (the lease is timed on it). */
  clock?: Clock;
  logger?: Logger;
  settings?: LocalEngineSettings;
  /** Deadline of one round of peer probes (ms, default 2000, as Patroni). */
  probeTimeoutMs?: number;
  /** Called once after an `exit` action (system ID mismatch, failed bootstrap); the loop has stopped. */
  onFatal?: (message: string) => void;
}

/** What one cycle did. */
export interface CycleReport {
  snapshot: Snapshot;
  decision: Decision;
  /** The reason that stands after guards ran (a guard's `otherwise` replaces the decision's). */
  reason: string;
  /** The reason code that stands with it (reason-codes.ts). */
  code: ReasonCode;
  /** The actions that were run, rendered (`renew_lock`, `demote(graceful)`). */
  actions: string[];
}
export interface HaLoop {
  /** Starts cycling until `stop()`. */
  start(): void;
  /** Stops cycling (waits for the cycle in progress); aborts the background action. PostgreSQL is left as it is. */
  stop(): Promise<void>;
  /**
   * A clean agent shutdown (SIGTERM): stop cycling, stop PostgreSQL (fast), then release the
   * lock if we hold it — in that order, so no write happens after the release.
   */
  shutdown(): Promise<void>;
  /** Runs the next cycle now (REST API after recording an intent). */
  wakeup(): void;
  /** Runs one cycle now (serialised with the running loop); for tests and the simulation. */
  runCycle(): Promise<CycleReport>;
  status(): EngineStatus;
  /** Records a management request for the next cycle and wakes the loop. */
  request<K extends keyof Intents>(kind: K, value: NonNullable<Intents[K]>): void;
  /** Pending requests. */
  intents(): Intents;
  /** Drops a pending request (DELETE /restart of a scheduled one) and wakes the loop. */
  withdraw(kind: IntentKind): void;
  /** Resolves when no background action runs (tests). */
  idle(): Promise<void>;
  /** Called after every cycle. */
  onCycle(listener: (report: CycleReport) => void): () => void;
  /**
   * Called as soon as this member gains or loses the leader lock, between cycles too (a release
   * after a graceful demote, a fence): health checks must stop calling this member the primary
   * at once, not at the end of the next cycle.
   */
  onLockChange(listener: (held: boolean) => void): () => void;
  /** A primary's `POST /failsafe` (REST API): remember it, so this replica follows it for ttl. */
  failsafePing(request: FailsafeRequest): FailsafeAnswer;
  /** True once stopped (by `stop`, `shutdown` or an `exit` action). */
  readonly stopped: boolean;
}

export function createHaLoop(options: HaLoopOptions): HaLoop {
  return new Loop(options);
}

class Loop implements HaLoop {
  readonly #rt: Runtime;
  readonly #onFatal: ((message: string) => void) | undefined;
  readonly #slot: BackgroundSlot;
  readonly #lease: LeaseGuard;
  readonly #failsafe: FailsafeState;
  readonly #observation: Observation;
  readonly #executor: Executor;
  readonly #scheduler: Scheduler;
  readonly #cycleListeners: Listeners<CycleReport>;
  readonly #record: CycleRecord;
  #memory: EngineMemory = initialMemory;
  #intents: Intents = {};
  #cycle: Promise<CycleReport> | null = null;

  constructor(options: HaLoopOptions) {
    const settings = options.settings ?? {};
    const log = options.logger ?? silentLogger;
    const rt: Runtime = {
      me: options.me,
      store: options.store,
      postgres: options.postgres,
      peers: options.peers,
      watchdog: options.watchdog ?? nullWatchdog,
      clock: options.clock ?? nodeClock,
      log,
      probeTimeoutMs: options.probeTimeoutMs ?? 2000,
      config: resolveEngineConfig(null, settings).config,
      stopped: false,
    };
    this.#rt = rt;
    this.#record = { lastReason: null, lastCycleAt: null, lastMember: null, patroniDialect: rt.config.patroniCompatibility ?? DEFAULT_PATRONI_DIALECT };
    this.#onFatal = options.onFatal;
    this.#cycleListeners = new Listeners<CycleReport>(log, 'cycle listener threw');
    this.#scheduler = new Scheduler(rt, {
      cycle: async () => (await this.runCycle()).decision.wakeAfterMs,
      holdsLock: () => this.#lease.held,
    });
    const wakeup = (): void => this.wakeup();
    this.#slot = new BackgroundSlot(rt.clock, (outcome) => settled(rt, outcome, wakeup));
    this.#lease = new LeaseGuard(rt, { slot: this.#slot, lastLocal: () => this.#observation.lastLocal, wakeup });
    this.#failsafe = new FailsafeState(rt);
    this.#observation = new Observation(rt, { settings, failsafe: this.#failsafe, lease: this.#lease });
    this.#executor = new Executor(rt, {
      slot: this.#slot,
      lease: this.#lease,
      longActions: new LongActions(rt, this.#slot, this.#lease),
      failsafe: this.#failsafe,
      consumeIntent: (intent) => this.#consumeIntent(intent),
      exit: (message) => {
        log.error(message);
        this.#scheduler.halt();
        this.#onFatal?.(message);
      },
    });
  }

  get stopped(): boolean {
    return this.#rt.stopped;
  }

  start(): void {
    this.#scheduler.start();
  }

  async stop(): Promise<void> {
    this.#scheduler.halt();
    await this.#scheduler.done;
    await this.#cycle?.catch(() => undefined);
    this.#lease.disarm();
    await boundedWait(this.#rt, this.#slot.abort(), 'aborting the background action');
  }

  async shutdown(): Promise<void> {
    await this.stop();
    const rt = this.#rt;
    const plan = shutdownPlan(rt.config, this.#lease.held, this.#record.lastMember?.tags ?? rt.me.tags);
    if (plan.kind === 'leave-running') {
      rt.log.info(plan.reason);
      await this.#lease.watchdog('disable');
      return;
    }
    if (plan.releaseSync) await this.#leaveSynchronousReplication(plan.releaseSync.waitMs);
    try {
      const stopMs = plan.stopTimeoutMs;
      await withDeadline(rt.clock, startTimeoutMs(rt), 'stopping PostgreSQL', (signal) => rt.postgres.stop({ mode: 'fast', ...(stopMs !== null ? { timeoutMs: stopMs } : {}) }, signal));
    } catch (e) {
      rt.log.error({ err: errorMessage(e) }, 'PostgreSQL shutdown failed, leader key not removed');
      return;
    }
    await this.#lease.watchdog('disable');
    if (this.#lease.held) {
      try {
        await dcsCall(rt, 'release the leader lock', (o) => rt.store.releaseLeader(o));
        rt.log.info('Leader key released');
      } catch (e) {
        rt.log.warn({ err: errorMessage(e) }, 'could not release the leader key');
      }
      this.#lease.setHeld(false);
    }
  }

  wakeup(): void {
    this.#scheduler.wakeup();
  }

  runCycle(): Promise<CycleReport> {
    const previous = this.#cycle ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.#runOneCycle());
    this.#cycle = next;
    return next;
  }

  status(): EngineStatus {
    const o = this.#observation;
    return engineStatus({
      name: this.#rt.me.name,
      record: this.#record,
      local: o.lastLocal,
      cluster: o.lastCluster,
      dcsLastSeen: o.dcsLastSeen,
      holdsLock: this.#lease.held,
      lastLockRenewalAt: this.#lease.renewedAt,
      running: this.#slot.running,
      config: this.#rt.config,
      failsafeActive: this.#failsafe.active(),
      configProblem: o.configProblem,
      dynamicConfig: o.dynamicConfig,
      receiver: this.#memory.receiver ?? null,
      now: this.#rt.clock.now(),
    });
  }

  failsafePing(request: FailsafeRequest): FailsafeAnswer {
    return this.#failsafe.answer(request, this.#observation.lastLocal);
  }

  request<K extends keyof Intents>(kind: K, value: NonNullable<Intents[K]>): void {
    this.#intents = { ...this.#intents, [kind]: value };
    this.wakeup();
  }

  withdraw(kind: IntentKind): void {
    this.#consumeIntent(kind);
    this.wakeup();
  }

  intents(): Intents {
    return { ...this.#intents };
  }

  idle(): Promise<void> {
    return this.#slot.idle();
  }

  onCycle(listener: (report: CycleReport) => void): () => void {
    return this.#cycleListeners.add(listener);
  }

  onLockChange(listener: (held: boolean) => void): () => void {
    return this.#lease.onChange(listener);
  }

  #consumeIntent(intent: IntentKind): void {
    const next = { ...this.#intents };
    delete next[intent];
    this.#intents = next;
  }

  async #runOneCycle(): Promise<CycleReport> {
    const rt = this.#rt;
    const { clock, me } = rt;
    const observation = this.#observation;
    // The DCS and PostgreSQL are read together: neither read needs the other, and a cycle woken
    // by a freed lock is on a failover's critical path. A DCS read that took long (a fault) makes
    // that PostgreSQL state stale — the safety deadline may have stopped the server meanwhile —
    // so it is read again then.
    const startedAt = clock.now();
    let reading = observation.readLocal();
    const cluster = await observation.loadCluster();
    if (clock.now() - startedAt > FRESH_LOCAL_STATE_MS) reading = reading.then(() => observation.readLocal());
    if (!isDcsUnavailable(cluster)) {
      await observation.applyConfig(cluster);
      if (cluster.leader?.name !== me.name && this.#lease.held) this.#lease.lost();
    }
    const early = observation.earlyProbe(cluster);
    const local = await reading;
    let snapshot: Snapshot = {
      cluster,
      local,
      config: rt.config,
      me,
      now: clock.now(),
      wallNow: clock.wallNow(),
      lock: { held: this.#lease.held, validUntil: rt.store.hold().validUntil },
      running: this.#slot.running,
      lastAction: this.#slot.last,
      peers: null,
      memory: this.#memory,
      intents: { ...this.#intents },
      watchdogHealthy: rt.watchdog.healthy,
      failsafeCheck: null,
      failsafePing: this.#failsafe.ping,
      checkpointRunning: this.#executor.checkpointRunning,
    };
    let decision = decide(snapshot);
    const probe = decision.actions.find((a) => a.kind === 'probe_peers' || a.kind === 'failsafe_check');
    if (probe?.kind === 'probe_peers') {
      const peers = await observation.peersFor(probe.members, early);
      snapshot = { ...snapshot, peers, now: clock.now() };
      decision = decide(snapshot);
    } else if (probe?.kind === 'failsafe_check') {
      const startedAt = clock.now();
      const acks = await observation.postFailsafe(probe.members);
      snapshot = { ...snapshot, failsafeCheck: { startedAt, acks } satisfies FailsafeCheck, now: clock.now() };
      decision = decide(snapshot);
    }
    if (probe && decision.actions.some((a) => a.kind === 'probe_peers' || a.kind === 'failsafe_check')) {
      // Cannot happen by construction (rules only ask while the answers are missing); never loop on it.
      decision = { ...decision, actions: decision.actions.filter((a) => a.kind !== 'probe_peers' && a.kind !== 'failsafe_check') };
    }
    for (const note of decision.notes) rt.log.info(note);
    // Before the actions run: the callbacks they fire name the role in this dialect.
    if (decision.patroniDialect !== null && decision.patroniDialect !== this.#record.patroniDialect) {
      rt.log.info(`now using Patroni ${decision.patroniDialect}'s names: a primary's role is ${decision.patroniDialect === 4 ? 'primary' : 'master'} in the member key, GET /patroni and callbacks`);
      this.#record.patroniDialect = decision.patroniDialect;
    }
    const executed: string[] = [];
    const { reason, code } = await this.#executor.execute(decision.actions, { reason: decision.reason, code: decision.code }, snapshot, executed);
    this.#memory = decision.memory;
    if (!isDcsUnavailable(cluster) && decision.member && !rt.stopped) await this.#touchMember(decision.member);
    this.#record.lastReason = reason;
    this.#record.lastCycleAt = clock.now();
    const report: CycleReport = { snapshot, decision, reason, code, actions: executed };
    rt.log.info(
      {
        event: 'ha_cycle',
        reason,
        code,
        rule: decision.rule,
        actions: executed,
        leader: isDcsUnavailable(cluster) ? null : (cluster.leader?.name ?? null),
        role: decision.member?.role ?? this.#record.lastMember?.role ?? null,
        timeline: local.timeline,
        lsn: local.lsn,
      },
      reason,
    );
    this.#cycleListeners.emit(report);
    return report;
  }

  /**
   * Patroni's `while_not_sync_standby` before a replica stops: publish `nosync`, then wait for the
   * primary to take us out of `/sync` (a hint only: a DCS failure or the wait running out lets
   * the stop go ahead).
   */
  async #leaveSynchronousReplication(waitMs: number): Promise<void> {
    const rt = this.#rt;
    const last = this.#record.lastMember;
    if (!last) return;
    try {
      const compatibility = { legacyPrimaryRole: this.#record.patroniDialect === 3 };
      const member = { ...last, tags: { ...last.tags, nosync: true } };
      await dcsCall(rt, 'touch the member key', (o) => rt.store.touchMember(member, { ...o, compatibility }));
    } catch (e) {
      rt.log.warn({ err: errorMessage(e) }, 'Updating member state failed, skipping synchronous standby disable');
      return;
    }
    const until = rt.clock.now() + waitMs;
    for (;;) {
      let cluster;
      try {
        cluster = await dcsCall(rt, 'read the cluster', (o) => rt.store.loadCluster(o));
      } catch {
        rt.log.warn('Could not get cluster state, skipping synchronous standby disable');
        return;
      }
      if (!isSynchronousStandby(cluster, rt.me.name) || rt.clock.now() >= until) return;
      rt.log.info('Waiting for primary to release us from synchronous standby');
      await rt.clock.sleep(Math.min(SYNC_RELEASE_POLL_MS, Math.max(0, until - rt.clock.now())));
    }
  }

  async #touchMember(member: MemberData): Promise<void> {
    this.#record.lastMember = member;
    try {
      const compatibility = { legacyPrimaryRole: this.#record.patroniDialect === 3 };
      await dcsCall(this.#rt, 'touch the member key', (o) => this.#rt.store.touchMember(member, { ...o, compatibility }));
    } catch (e) {
      this.#rt.log.warn({ err: errorMessage(e) }, 'failed to update the member key');
    }
  }
}
