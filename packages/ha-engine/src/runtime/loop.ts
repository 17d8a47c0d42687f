/**
 * The HA loop: gather a snapshot, `decide`, run the actions through the ports, log one line.
 *
 * - It wakes every `loop_wait` seconds, on DCS watch events (leader, config, failover), on
 *   `wakeup()` (the REST API after recording an intent) and when a background action succeeds.
 * - DCS calls run inline, each bounded by `retry_timeout`; reading PostgreSQL's state too; peer
 *   probes by `probeTimeoutMs`. So a cycle always ends, whatever hangs.
 * - PostgreSQL actions run in the background slot, one at a time; cycles go on meanwhile.
 * - The lock holder's safety deadline (safety.ts) fences PostgreSQL between cycles if renewals
 *   stop succeeding.
 * - The last cycle's state is kept for the REST API (`status()`).
 */
import type { Cluster, ClusterConfig, ClusterStore, DcsTiming, Failsafe, Logger, MemberData, Versioned } from '@pgha/dcs';
import { silentLogger } from '@pgha/dcs';
import type { Action, Decision, FollowTarget, LongAction, Otherwise } from '../core/actions.js';
import { describeAction } from '../core/actions.js';
import { BackgroundSlot } from './background.js';
import type { ProbeTarget } from '../core/candidate.js';
import { probeTargets } from '../core/candidate.js';
import type { EngineConfig, LocalEngineSettings } from '../core/config.js';
import { resolveEngineConfig } from '../core/config.js';
import { DynamicConfigKeeper } from '../core/config-keeper.js';
import { decide } from '../core/decide.js';
import type { FailsafeAnswer, FailsafeRequest, LastLeader } from '../core/failsafe-ping.js';
import { judgeFailsafePing, lastLeaderOf } from '../core/failsafe-ping.js';
import { errorMessage, withDeadline } from './deadline.js';
import { mergeHistory } from '../core/history.js';
import { unreachable } from './peer-status.js';
import type { Clock, PeerProbe, PostgresPort, WatchdogPort } from './ports.js';
import { nullWatchdog, nodeClock } from './ports.js';
import { SafetyDeadline } from './safety.js';
import type {
  ActionOutcome,
  DcsUnavailable,
  EngineMemory,
  FailsafeAck,
  FailsafeCheck,
  FailsafePing,
  Intents,
  LocalPostgresState,
  MemberIdentity,
  PeerStatus,
  RunningAction,
  Snapshot,
} from '../core/snapshot.js';
import { initialMemory, isDcsUnavailable } from '../core/snapshot.js';

/** A PostgreSQL state read alongside a DCS read that took longer than this is read again. */
const FRESH_LOCAL_STATE_MS = 200;
/** Pause between fencing attempts that could not confirm PostgreSQL down. */
const FENCE_RETRY_MS = 1000;

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

/** The last cycle, as the REST API and metrics need it. */
export interface EngineStatus {
  name: string;
  /** The role written to the member key (`primary`, `replica`, `demoted`, `uninitialized`). */
  role: string;
  /** The member state written to the member key (`running`, `starting`, `creating replica`, ...). */
  state: string;
  timeline: number | null;
  lsn: number | null;
  /** The lock holder seen in the last successful DCS read. */
  leader: string | null;
  /** We hold the leader lock (last acquire/renewal succeeded). */
  holdsLock: boolean;
  pendingRestart: boolean;
  lastReason: string | null;
  /** Monotonic ms at the end of the last cycle (for `/liveness`). */
  lastCycleAt: number | null;
  /** Wall ms of the last successful DCS read (`dcs_last_seen`). */
  dcsLastSeen: number | null;
  running: RunningAction | null;
  cluster: Cluster | null;
  local: LocalPostgresState | null;
  config: EngineConfig;
  member: MemberData | null;
  /**
   * Failsafe mode is active: on a primary, all members acknowledged it while the DCS is down (until
   * that expires); on a replica, a primary pinged it within ttl.
   */
  failsafeActive: boolean;
  /**
   * Why the DCS `config` value is not the one in effect (it does not parse, or a timing value is
   * out of range); null when it is. `dynamicConfig` is then the last good value.
   */
  configProblem: string | null;
  /** The dynamic configuration in effect, with its DCS version; null before one was read. */
  dynamicConfig: Versioned<ClusterConfig> | null;
}

/** What one cycle did. */
export interface CycleReport {
  snapshot: Snapshot;
  decision: Decision;
  /** The reason that stands after guards ran (a guard's `otherwise` replaces the decision's). */
  reason: string;
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

const WAKE_KEYS = new Set(['leader', 'config', 'failover']);

export function createHaLoop(options: HaLoopOptions): HaLoop {
  return new Loop(options);
}

class Loop implements HaLoop {
  readonly #o: Required<Omit<HaLoopOptions, 'onFatal' | 'settings'>> & Pick<HaLoopOptions, 'onFatal'>;
  readonly #settings: LocalEngineSettings;
  readonly #log: Logger;
  readonly #slot: BackgroundSlot;
  readonly #safety: SafetyDeadline;
  readonly #listeners = new Set<(r: CycleReport) => void>();
  readonly #lockListeners = new Set<(held: boolean) => void>();
  /** The last watchdog call was a successful activate (keepalives follow), not a disable. */
  #watchdogArmed = false;
  #config: EngineConfig;
  #timing: DcsTiming | null = null;
  #memory: EngineMemory = initialMemory;
  #intents: Intents = {};
  #lockHeld = false;
  /** A promote / primary start / bootstrap / restart began since the last state read. */
  #maybeWritableSinceRead = false;
  #lastLocal: LocalPostgresState | null = null;
  #lastCluster: Cluster | null = null;
  #dcsLastSeen: number | null = null;
  #lastReason: string | null = null;
  #lastCycleAt: number | null = null;
  #lastMember: MemberData | null = null;
  #cycle: Promise<CycleReport> | null = null;
  #stopped = false;
  #started = false;
  #loopDone: Promise<void> | null = null;
  #wake: AbortController | null = null;
  #wakePending = false;
  #unwatch: (() => void) | null = null;
  #configKeeper: DynamicConfigKeeper;
  /** The `failsafe` key from the last successful read. */
  #lastFailsafe: Failsafe | null = null;
  #failsafePing: FailsafePing | null = null;
  /** The last lock holder read from the DCS: the only member whose failsafe ping we accept. */
  #lastLeader: LastLeader | null = null;
  /** Monotonic ms until which a failsafe round let us keep running as primary. */
  #failsafeHoldUntil: number | null = null;
  /** The fence's attempts until PostgreSQL is confirmed down; null when no fence runs. */
  #fencing: Promise<void> | null = null;

  constructor(options: HaLoopOptions) {
    this.#o = {
      watchdog: nullWatchdog,
      clock: nodeClock,
      logger: silentLogger,
      probeTimeoutMs: 2000,
      ...options,
    };
    this.#settings = options.settings ?? {};
    this.#log = this.#o.logger;
    this.#config = resolveEngineConfig(null, this.#settings).config;
    this.#configKeeper = new DynamicConfigKeeper(this.#settings, this.#log);
    this.#slot = new BackgroundSlot(this.#o.clock, (outcome) => this.#settled(outcome));
    this.#safety = new SafetyDeadline(this.#o.clock, (deadline) => this.#fence(deadline));
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#unwatch = this.#o.store.watch((event) => {
      // The leader also wakes when a member key is created: a member (re)joining needs its
      // replication slot on the primary before it can stream, and would otherwise wait for the
      // leader's next loop_wait (its WAL receiver retrying meanwhile).
      if (WAKE_KEYS.has(event.key) || (event.created === true && event.key.startsWith('members/') && this.#lockHeld)) this.wakeup();
    });
    this.#loopDone = this.#run();
  }

  async stop(): Promise<void> {
    this.#halt();
    await this.#loopDone;
    await this.#cycle?.catch(() => undefined);
    this.#safety.disarm();
    await this.#boundedWait(this.#slot.abort(), 'aborting the background action');
  }

  async shutdown(): Promise<void> {
    await this.stop();
    const { clock } = this.#o;
    try {
      await withDeadline(clock, this.#startTimeoutMs(), 'stopping PostgreSQL', (signal) =>
        this.#o.postgres.stop({ mode: 'fast' }, signal),
      );
    } catch (e) {
      this.#log.error({ err: errorMessage(e) }, 'PostgreSQL shutdown failed, leader key not removed');
      return;
    }
    await this.#callWatchdog('disable');
    if (this.#lockHeld) {
      try {
        await this.#dcs('release the leader lock', (o) => this.#o.store.releaseLeader(o));
        this.#log.info('Leader key released');
      } catch (e) {
        this.#log.warn({ err: errorMessage(e) }, 'could not release the leader key');
      }
      this.#setLockHeld(false);
    }
  }

  wakeup(): void {
    if (this.#wake) this.#wake.abort();
    else this.#wakePending = true;
  }

  runCycle(): Promise<CycleReport> {
    const previous = this.#cycle ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.#runOneCycle());
    this.#cycle = next;
    return next;
  }

  status(): EngineStatus {
    const local = this.#lastLocal;
    return {
      name: this.#o.me.name,
      role: this.#lastMember?.role ?? 'uninitialized',
      state: this.#lastMember?.state ?? 'stopped',
      timeline: local?.timeline ?? null,
      lsn: local?.lsn ?? null,
      leader: this.#lastCluster?.leader?.name ?? null,
      holdsLock: this.#lockHeld,
      pendingRestart: local?.pendingRestart ?? false,
      lastReason: this.#lastReason,
      lastCycleAt: this.#lastCycleAt,
      dcsLastSeen: this.#dcsLastSeen,
      running: this.#slot.running,
      cluster: this.#lastCluster,
      local,
      config: this.#config,
      member: this.#lastMember,
      failsafeActive: this.#failsafeActive(),
      configProblem: this.#configKeeper.problem,
      dynamicConfig: this.#configKeeper.inEffect,
    };
  }

  failsafePing(request: FailsafeRequest): FailsafeAnswer {
    const local = this.#lastLocal;
    // The engine decides who may make us follow it; we only remember an accepted ping.
    const { answer, ping } = judgeFailsafePing({
      request,
      failsafeMode: this.#config.failsafeMode,
      localPrimary: local?.running === true && local.role === 'primary' && !local.unknown,
      lsn: local?.lsn ?? null,
      lastLeader: this.#lastLeader,
      now: this.#o.clock.now(),
    });
    if (ping) this.#failsafePing = ping;
    if (answer.kind === 'refused') this.#log.warn({ member: request.name, source: request.source, status: answer.status }, `POST /failsafe refused: ${answer.reason}`);
    return answer;
  }

  #failsafeActive(): boolean {
    if (!this.#config.failsafeMode) return false;
    const now = this.#o.clock.now();
    if (this.#failsafeHoldUntil !== null && now < this.#failsafeHoldUntil) return true;
    return this.#failsafePing !== null && now - this.#failsafePing.receivedAt < this.#config.ttl * 1000;
  }

  request<K extends keyof Intents>(kind: K, value: NonNullable<Intents[K]>): void {
    this.#intents = { ...this.#intents, [kind]: value };
    this.wakeup();
  }

  intents(): Intents {
    return { ...this.#intents };
  }

  idle(): Promise<void> {
    return this.#slot.idle();
  }

  onCycle(listener: (report: CycleReport) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  onLockChange(listener: (held: boolean) => void): () => void {
    this.#lockListeners.add(listener);
    return () => void this.#lockListeners.delete(listener);
  }

  #setLockHeld(held: boolean): void {
    const changed = this.#lockHeld !== held;
    this.#lockHeld = held;
    if (!changed) return;
    for (const listener of this.#lockListeners) {
      try {
        listener(held);
      } catch (e) {
        this.#log.warn({ err: errorMessage(e) }, 'a lock-change listener failed');
      }
    }
  }

  // ---- the loop ------------------------------------------------------------------------------

  async #run(): Promise<void> {
    const { clock } = this.#o;
    while (!this.#stopped) {
      const began = clock.now();
      let wakeAfter: number | undefined;
      try {
        wakeAfter = (await this.runCycle()).decision.wakeAfterMs;
      } catch (e) {
        this.#log.error({ err: errorMessage(e) }, 'Unexpected exception raised, please report it as a BUG');
      }
      if (this.#stopped) break;
      const elapsed = clock.now() - began;
      let wait = this.#config.loopWait * 1000 - elapsed;
      if (wait <= 0) this.#log.info('Loop time exceeded, rescheduling immediately.');
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
    await this.#o.clock.sleep(ms, wake.signal);
    this.#wake = null;
  }

  #halt(): void {
    this.#stopped = true;
    this.#unwatch?.();
    this.#unwatch = null;
    this.#wake?.abort();
  }

  // ---- one cycle -----------------------------------------------------------------------------

  async #runOneCycle(): Promise<CycleReport> {
    const { clock, me } = this.#o;
    // The DCS and PostgreSQL are read together: neither read needs the other, and a cycle woken
    // by a freed lock is on a failover's critical path. A DCS read that took long (a fault) makes
    // that PostgreSQL state stale — the safety deadline may have stopped the server meanwhile —
    // so it is read again then.
    const startedAt = clock.now();
    let reading = this.#readLocal();
    const cluster = await this.#loadCluster();
    if (clock.now() - startedAt > FRESH_LOCAL_STATE_MS) reading = reading.then(() => this.#readLocal());
    if (!isDcsUnavailable(cluster)) {
      this.#config = this.#resolveConfig(cluster);
      await this.#applyTiming();
      if (cluster.leader?.name !== me.name && this.#lockHeld) {
        // The key is gone or someone else's: whatever we believed, we do not hold the lock.
        this.#setLockHeld(false);
        this.#safety.disarm();
      }
    }
    const early = this.#earlyProbe(cluster);
    const local = await reading;
    let snapshot: Snapshot = {
      cluster,
      local,
      config: this.#config,
      me,
      now: clock.now(),
      wallNow: clock.wallNow(),
      lock: { held: this.#lockHeld, validUntil: this.#o.store.hold().validUntil },
      running: this.#slot.running,
      lastAction: this.#slot.last,
      peers: null,
      memory: this.#memory,
      intents: { ...this.#intents },
      watchdogHealthy: this.#o.watchdog.healthy,
      failsafeCheck: null,
      failsafePing: this.#failsafePing,
    };
    let decision = decide(snapshot);
    const probe = decision.actions.find((a) => a.kind === 'probe_peers' || a.kind === 'failsafe_check');
    if (probe?.kind === 'probe_peers') {
      const peers = early && sameTargets(early.targets, probe.members) ? await early.results : await this.#probe(probe.members);
      // What each member answered, and why one we could not ask is left out of the WAL comparison
      // (Patroni's `Got response from` / `Request failed to`).
      for (const p of peers) {
        if (!p.reachable) {
          this.#log.warn({ member: p.name }, `Request failed to ${p.name}: ${p.error ?? 'no answer'}`);
          continue;
        }
        const url = probe.members.find((m) => m.name === p.name)?.apiUrl ?? '';
        const role = p.inRecovery ? 'in recovery' : 'running as primary';
        this.#log.info({ member: p.name, wal: p.walPosition }, `Got response from ${p.name} ${url}: ${role}, wal position ${p.walPosition ?? 'unknown'}, timeline ${p.timeline ?? 'unknown'}`);
      }
      snapshot = { ...snapshot, peers, now: clock.now() };
      decision = decide(snapshot);
    } else if (probe?.kind === 'failsafe_check') {
      const startedAt = clock.now();
      const acks = await this.#postFailsafe(probe.members);
      snapshot = { ...snapshot, failsafeCheck: { startedAt, acks } satisfies FailsafeCheck, now: clock.now() };
      decision = decide(snapshot);
    }
    if (probe && decision.actions.some((a) => a.kind === 'probe_peers' || a.kind === 'failsafe_check')) {
      // Cannot happen by construction (rules only ask while the answers are missing); never loop on it.
      decision = { ...decision, actions: decision.actions.filter((a) => a.kind !== 'probe_peers' && a.kind !== 'failsafe_check') };
    }
    for (const note of decision.notes) this.#log.info(note);
    const executed: string[] = [];
    const reason = await this.#execute(decision.actions, decision.reason, snapshot, executed);
    this.#memory = decision.memory;
    if (!isDcsUnavailable(cluster) && decision.member && !this.#stopped) {
      this.#lastMember = decision.member;
      try {
        await this.#dcs('touch the member key', (o) => this.#o.store.touchMember(decision.member as MemberData, o));
      } catch (e) {
        this.#log.warn({ err: errorMessage(e) }, 'failed to update the member key');
      }
    }
    this.#lastReason = reason;
    this.#lastCycleAt = clock.now();
    const report: CycleReport = { snapshot, decision, reason, actions: executed };
    this.#log.info(
      {
        event: 'ha_cycle',
        reason,
        rule: decision.rule,
        actions: executed,
        leader: isDcsUnavailable(cluster) ? null : (cluster.leader?.name ?? null),
        role: decision.member?.role ?? this.#lastMember?.role ?? null,
        timeline: local.timeline,
        lsn: local.lsn,
      },
      reason,
    );
    for (const listener of this.#listeners) {
      try {
        listener(report);
      } catch (e) {
        this.#log.warn({ err: errorMessage(e) }, 'cycle listener threw');
      }
    }
    return report;
  }

  async #loadCluster(): Promise<Cluster | DcsUnavailable> {
    try {
      // Malformed values are already logged by the store and read as unknown.
      const cluster = await this.#dcs('read the cluster', (o) => this.#o.store.loadCluster(o));
      this.#lastCluster = cluster;
      this.#lastFailsafe = cluster.failsafe?.value ?? null;
      this.#lastLeader = lastLeaderOf(cluster, this.#lastLeader);
      this.#dcsLastSeen = this.#o.clock.wallNow();
      this.#failsafeHoldUntil = null;
      return cluster;
    } catch (e) {
      this.#log.error({ err: errorMessage(e) }, 'Error communicating with DCS');
      return { error: errorMessage(e), failsafe: this.#lastFailsafe };
    }
  }

  #resolveConfig(cluster: Cluster): EngineConfig {
    // A broken or out-of-range stored value keeps the last good configuration (config-keeper.ts).
    return this.#configKeeper.resolve(cluster);
  }

  /** Re-times the DCS session when ttl / loop_wait / retry_timeout changed. */
  async #applyTiming(): Promise<void> {
    const c = this.#config;
    const t = this.#timing;
    if (t && t.ttl === c.ttl && t.loopWait === c.loopWait && t.retryTimeout === c.retryTimeout) return;
    const timing = { ttl: c.ttl, loopWait: c.loopWait, retryTimeout: c.retryTimeout };
    try {
      await withDeadline(this.#o.clock, this.#dcsTimeoutMs(), 'applying DCS timing', () => this.#o.store.setTiming(timing));
      this.#timing = timing;
    } catch (e) {
      this.#log.warn({ err: errorMessage(e) }, 'could not apply the new DCS timing');
    }
  }

  async #readLocal(): Promise<LocalPostgresState> {
    try {
      const local = await withDeadline(this.#o.clock, this.#dcsTimeoutMs(), 'reading the PostgreSQL state', (signal) =>
        this.#o.postgres.state(signal),
      );
      this.#lastLocal = local;
      this.#maybeWritableSinceRead = false;
      return local;
    } catch (e) {
      const previous = this.#lastLocal;
      const unknown: LocalPostgresState = {
        dataDirectory: previous?.dataDirectory ?? 'initialized',
        systemId: previous?.systemId ?? null,
        running: previous?.running ?? false,
        state: previous?.state ?? 'unknown',
        role: previous?.role ?? null,
        timeline: previous?.timeline ?? null,
        lsn: previous?.lsn ?? null,
        following: previous?.following ?? null,
        streaming: false,
        pendingRestart: previous?.pendingRestart ?? false,
        rewindPossible: previous?.rewindPossible ?? false,
        unknown: errorMessage(e),
      };
      return unknown;
    }
  }

  /**
   * With the lock free, a leader race is likely and needs the other members' positions: start
   * asking them now, while PostgreSQL's state is read, instead of after. The rules ask exactly
   * `probeTargets`; the results are used only if they do, and are as fresh as Patroni's (taken
   * after the cluster was read). Not when paused: no race happens then.
   */
  #earlyProbe(cluster: Cluster | DcsUnavailable): { targets: ProbeTarget[]; results: Promise<PeerStatus[]> } | null {
    if (isDcsUnavailable(cluster) || cluster.leader !== null || this.#config.pause) return null;
    const targets = probeTargets(cluster, this.#o.me.name);
    if (targets.length === 0) return null;
    return { targets, results: this.#probe(targets) };
  }

  async #probe(members: { name: string; apiUrl: string }[]): Promise<PeerStatus[]> {
    if (members.length === 0) return [];
    const timeoutMs = this.#o.probeTimeoutMs;
    try {
      // A little slack over the probe's own deadline, which it is asked to keep.
      const results = await withDeadline(this.#o.clock, timeoutMs + 500, 'probing members', (signal) =>
        this.#o.peers.probe(members, { timeoutMs, signal }),
      );
      return members.map((m) => results.find((r) => r.name === m.name) ?? unreachable(m.name, 'no answer'));
    } catch (e) {
      return members.map((m) => unreachable(m.name, errorMessage(e)));
    }
  }

  /** POST /failsafe to `members`; a member that does not answer in time has not acknowledged. */
  async #postFailsafe(members: { name: string; apiUrl: string }[]): Promise<FailsafeAck[]> {
    const post = this.#o.peers.postFailsafe?.bind(this.#o.peers);
    if (!post) return members.map((m) => ({ name: m.name, accepted: false, error: 'this agent cannot call POST /failsafe' }));
    const { me } = this.#o;
    const timeoutMs = this.#o.probeTimeoutMs;
    let acks: FailsafeAck[];
    try {
      acks = await withDeadline(this.#o.clock, timeoutMs + 500, 'POST /failsafe', (signal) =>
        post(members, { name: me.name, conn_url: me.connUrl, api_url: me.apiUrl }, { timeoutMs, signal }),
      );
    } catch (e) {
      acks = members.map((m) => ({ name: m.name, accepted: false, error: errorMessage(e) }));
    }
    return members.map((m) => {
      const ack = acks.find((a) => a.name === m.name) ?? { name: m.name, accepted: false, error: 'no answer' };
      if (ack.accepted) this.#log.info({ member: m.name, accepted: true }, `Got response from ${m.name} ${m.apiUrl}: Accepted`);
      else this.#log.warn({ member: m.name, accepted: false }, `No failsafe acknowledgement from ${m.name}: ${ack.error ?? 'no answer'}`);
      return ack;
    });
  }

  // ---- running actions -----------------------------------------------------------------------

  /** Runs `actions` in order; a guard that does not succeed switches to its `otherwise`. */
  async #execute(actions: Action[], reason: string, s: Snapshot, executed: string[]): Promise<string> {
    for (const action of actions) {
      if (this.#stopped) break;
      executed.push(describeAction(action));
      const result = await this.#perform(action, s);
      if (result === 'ok') continue;
      const alternative = alternativeFor(action, result);
      if (alternative) {
        this.#log.info({ action: describeAction(action), result }, `${describeAction(action)} did not succeed: ${alternative.reason}`);
        return this.#execute(alternative.actions, alternative.reason, s, executed);
      }
    }
    return reason;
  }

  async #perform(action: Action, s: Snapshot): Promise<'ok' | 'false' | 'error'> {
    const store = this.#o.store;
    const asResult = async (what: string, call: () => Promise<boolean>): Promise<'ok' | 'false' | 'error'> => {
      try {
        return (await call()) ? 'ok' : 'false';
      } catch (e) {
        this.#log.warn({ err: errorMessage(e) }, `failed to ${what}`);
        return 'error';
      }
    };
    switch (action.kind) {
      case 'acquire_lock': {
        const r = await asResult('acquire the leader lock', () => this.#dcs('acquire the leader lock', (o) => store.acquireLeader(o)));
        if (r === 'ok') this.#lockGained();
        if (r === 'false') this.#setLockHeld(false);
        return r;
      }
      case 'renew_lock': {
        const status = action.status ?? undefined;
        const r = await asResult('update the leader lock', () => this.#dcs('update the leader lock', (o) => store.updateLeader(status, o)));
        if (r === 'ok') {
          this.#lockGained();
          // A lock holder's watchdog is armed. It is disarmed when PostgreSQL is fenced or
          // demoted; if we keep (or get back) the lock after that — the DCS came back with our
          // lease alive, PostgreSQL restarted in place — arm it again before relying on it. In
          // maintenance mode it stays disarmed (Patroni's rule), and during a demote too: the
          // demote disarms it once PostgreSQL is down, and a renewal racing the release after
          // that must not leave an armed watchdog on a replica nobody keeps alive.
          if (this.#watchdogArmed) await this.#callWatchdog('keepalive');
          else if (!s.config.pause && this.#slot.running?.kind !== 'demote') await this.#callWatchdog('activate');
        }
        if (r === 'false') this.#setLockHeld(false);
        return r;
      }
      case 'release_lock':
        await this.#release();
        return 'ok';
      case 'attempt_initialize':
        return asResult('race for the initialize key', () => this.#dcs('create the initialize key', (o) => store.attemptToInitialize(o)));
      case 'set_initialize':
        return asResult('write the initialize key', () =>
          this.#dcs('write the initialize key', (o) => store.setInitialize(action.sysid, action.expectVersion, o)),
        );
      case 'cancel_initialize':
        return asResult('remove the initialize key', () => this.#dcs('remove the initialize key', (o) => store.cancelInitialization(o)));
      case 'write_config':
        return asResult('write the config key', () => this.#dcs('write the config key', (o) => store.setConfig(action.config, null, o)));
      case 'clear_failover':
        return asResult('clear the failover key', () =>
          this.#dcs('clear the failover key', (o) => store.clearFailover(action.expectVersion, o)),
        );
      case 'write_history':
        return asResult('write the history key', () => this.#writeHistory(action, s));
      case 'probe_peers':
      case 'failsafe_check':
        return 'ok';
      case 'failsafe_hold':
        // As a renewal would: the members' acknowledgements stand in for the lease until then.
        this.#setLockHeld(true);
        this.#failsafeHoldUntil = action.validUntil;
        this.#safety.arm(action.validUntil, this.#config.safetyMargin * 1000);
        await this.#callWatchdog('keepalive');
        return 'ok';
      case 'write_failsafe':
        return asResult('write the failsafe key', () => this.#dcs('write the failsafe key', (o) => store.setFailsafe(action.topology, o)));
      case 'activate_watchdog':
        return (await this.#callWatchdog('activate')) ? 'ok' : 'false';
      case 'disable_watchdog':
        await this.#callWatchdog('disable');
        return 'ok';
      case 'exit':
        this.#log.error(action.message);
        this.#halt();
        this.#o.onFatal?.(action.message);
        return 'ok';
      case 'sync_slots': {
        try {
          await withDeadline(this.#o.clock, this.#dcsTimeoutMs(), 'syncing replication slots', (signal) =>
            this.#o.postgres.syncSlots(action.plan, signal),
          );
        } catch (e) {
          this.#log.warn({ err: errorMessage(e) }, 'failed to sync the replication slots');
        }
        return 'ok';
      }
      case 'write_sync':
        return asResult('write the sync key', () =>
          this.#dcs('write the sync key', (o) =>
            store.setSync({ leader: action.leader, sync_standby: action.standbys, quorum: action.quorum }, action.expectVersion, o),
          ),
        );
      case 'delete_sync':
        return asResult('delete the sync key', () => this.#dcs('delete the sync key', (o) => store.deleteSync(action.expectVersion, o)));
      case 'set_synchronous_standby_names':
        return asResult('set synchronous_standby_names', async () => {
          await withDeadline(this.#o.clock, this.#dcsTimeoutMs(), 'setting synchronous_standby_names', (signal) =>
            this.#o.postgres.setSynchronousStandbyNames(action.setting, signal),
          );
          return true;
        });
      case 'consume_intent': {
        const next = { ...this.#intents };
        delete next[action.intent];
        this.#intents = next;
        return 'ok';
      }
      default:
        return this.#startLong(action);
    }
  }

  #startLong(action: LongAction): 'ok' | 'false' {
    const result = this.#slot.start(action, (signal) => this.#work(action, signal));
    if (result === 'busy') {
      this.#log.warn({ action: describeAction(action) }, `not starting ${action.label}: ${this.#slot.running?.label} in progress`);
      return 'false';
    }
    if (action.kind === 'promote' || action.kind === 'bootstrap' || action.kind === 'restart' || (action.kind === 'start' && action.role === 'primary')) {
      this.#maybeWritableSinceRead = true;
    }
    return 'ok';
  }

  /** The body of a background action. */
  async #work(action: LongAction, signal: AbortSignal): Promise<void> {
    const pg = this.#o.postgres;
    const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
      if (signal.aborted) throw new Error(`aborted before ${what}`);
      await fn();
    };
    const startReplica = (follow: FollowTarget | null): Promise<void> =>
      step('starting as a replica', () => pg.start({ role: 'replica', follow, timeoutMs: this.#startTimeoutMs() }, signal));
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
        this.#log.info(`Demoting self (${action.mode})`);
        const stopping = this.#o.clock.now();
        // Not abortable: a demote that has begun must bring PostgreSQL down.
        await pg.stop({ mode: immediate ? 'immediate' : 'fast', checkpoint: action.mode === 'graceful' }, new AbortController().signal);
        this.#log.info({ ms: Math.round(this.#o.clock.now() - stopping) }, 'PostgreSQL stopped');
        // Disarmed only now (Patroni's safepoint): during the CHECKPOINT and the stop the server
        // may still take writes, and if the lock is lost meanwhile the keepalives stop and the
        // watchdog must be there to fire. A stop that fails leaves it armed.
        await this.#callWatchdog('disable');
        if (action.mode === 'graceful' || action.mode === 'immediate') await this.#release();
        return startReplica(action.follow);
      }
    }
  }

  async #writeHistory(action: Extract<Action, { kind: 'write_history' }>, s: Snapshot): Promise<boolean> {
    const fromFiles = await withDeadline(this.#o.clock, this.#dcsTimeoutMs(), 'reading the timeline history', (signal) =>
      this.#o.postgres.timelineHistory(signal),
    );
    const existing = isDcsUnavailable(s.cluster) ? [] : (s.cluster.history?.value ?? []);
    const history = mergeHistory({
      fromFiles,
      existing,
      newLeader: action.newLeader,
      nowIso: new Date(this.#o.clock.wallNow()).toISOString(),
      maxLines: action.maxLines,
    });
    return this.#dcs('write the history key', (o) => this.#o.store.setHistory(history, action.expectVersion, o));
  }

  async #release(): Promise<void> {
    try {
      await this.#dcs('release the leader lock', (o) => this.#o.store.releaseLeader(o));
      this.#log.info('Leader key released');
    } catch (e) {
      this.#log.warn({ err: errorMessage(e) }, 'failed to release the leader lock');
    }
    this.#setLockHeld(false);
    this.#safety.disarm();
  }

  #lockGained(): void {
    this.#setLockHeld(true);
    this.#safety.arm(this.#o.store.hold().validUntil, this.#config.safetyMargin * 1000);
  }

  /** The safety deadline passed without a renewal: stop PostgreSQL now if it may take writes. */
  #fence(deadline: number): void {
    this.#setLockHeld(false);
    const local = this.#lastLocal;
    const running = this.#slot.running;
    const writable =
      this.#maybeWritableSinceRead ||
      (local !== null && local.running && local.role === 'primary') ||
      (running !== null && ['promote', 'bootstrap', 'restart'].includes(running.kind));
    if (!writable) {
      this.#log.warn({ deadline }, 'leader lock could not be renewed in time; PostgreSQL is not a primary, nothing to fence');
      return;
    }
    if (this.#config.pause) {
      this.#log.warn({ deadline }, 'leader lock could not be renewed in time; not stopping PostgreSQL because the cluster is paused');
      return;
    }
    this.#log.error(
      { deadline, validUntil: this.#o.store.hold().validUntil },
      'leader lock could not be renewed before the safety deadline: stopping PostgreSQL (immediate)',
    );
    // Not through the slot: this must not wait behind a hung background action. The abort also
    // keeps an aborted start or restart from bringing the server back up after the kill.
    void this.#slot.abort();
    // One round of attempts at a time: a later deadline joins the one already running.
    if (this.#fencing === null) this.#fencing = this.#fenceUntilDown().finally(() => (this.#fencing = null));
  }

  /**
   * Kills PostgreSQL through the port's `fence` (which does not wait behind the running action),
   * again and again until it is confirmed down. Only then is the watchdog disarmed: while the
   * fence cannot complete, the watchdog stays armed and, keepalives having stopped with the
   * renewals, resets the machine before another member's lease can start.
   */
  async #fenceUntilDown(): Promise<void> {
    const attemptMs = Math.max(1000, this.#config.safetyMargin * 1000);
    for (let attempt = 1; !this.#stopped; attempt++) {
      try {
        await withDeadline(this.#o.clock, attemptMs, 'fencing PostgreSQL', (signal) => this.#o.postgres.fence(signal));
        this.#log.info({ attempt }, 'PostgreSQL fenced (stopped)');
        await this.#callWatchdog('disable');
        this.wakeup();
        return;
      } catch (e) {
        this.#log.error({ err: errorMessage(e), attempt }, 'fencing PostgreSQL failed; trying again; the watchdog stays armed');
      }
      await this.#o.clock.sleep(FENCE_RETRY_MS);
    }
  }

  #settled(outcome: ActionOutcome): void {
    const log = outcome.ok ? this.#log.info.bind(this.#log) : this.#log.warn.bind(this.#log);
    log(
      { action: outcome.label, ok: outcome.ok, err: outcome.error, ms: Math.round(outcome.finishedAt - outcome.startedAt) },
      `${outcome.label}: ${outcome.ok ? 'done' : `failed: ${outcome.error}`}`,
    );
    // Success moves things forward at once; a failure waits for the next regular cycle, so a
    // failing action is not retried in a tight loop.
    if (outcome.ok && !this.#stopped) this.wakeup();
  }

  async #callWatchdog(what: 'activate' | 'keepalive' | 'disable'): Promise<boolean> {
    if (what === 'disable') this.#watchdogArmed = false;
    try {
      const r = await withDeadline(this.#o.clock, 5000, `watchdog ${what}`, () =>
        what === 'activate' ? this.#o.watchdog.activate() : this.#o.watchdog[what]().then(() => true),
      );
      if (what === 'activate') this.#watchdogArmed = r;
      return r;
    } catch (e) {
      this.#log.error({ err: errorMessage(e) }, `watchdog ${what} failed`);
      return false;
    }
  }

  /** One DCS call with the call deadline passed down and enforced on our clock too. */
  #dcs<T>(what: string, call: (options: { timeoutMs: number }) => Promise<T>): Promise<T> {
    const timeoutMs = this.#dcsTimeoutMs();
    return withDeadline(this.#o.clock, timeoutMs + 1000, what, () => call({ timeoutMs }));
  }

  #dcsTimeoutMs(): number {
    return this.#config.retryTimeout * 1000;
  }

  #startTimeoutMs(): number {
    return Math.max(this.#config.primaryStartTimeout, this.#config.loopWait) * 1000;
  }

  async #boundedWait(p: Promise<void>, what: string): Promise<void> {
    try {
      await withDeadline(this.#o.clock, this.#startTimeoutMs(), what, () => p);
    } catch (e) {
      this.#log.warn({ err: errorMessage(e) }, `${what} did not finish`);
    }
  }
}

function sameTargets(a: readonly ProbeTarget[], b: readonly ProbeTarget[]): boolean {
  return a.length === b.length && a.every((t, i) => t.name === b[i]?.name && t.apiUrl === b[i]?.apiUrl);
}

/** The branch a guarded action takes when it did not succeed (none for unguarded actions). */
function alternativeFor(action: Action, result: 'false' | 'error'): Otherwise | undefined {
  if (!('otherwise' in action) && !('onError' in action)) return undefined;
  const guard: { otherwise?: Otherwise; onError?: Otherwise } = action;
  return result === 'error' ? (guard.onError ?? guard.otherwise) : guard.otherwise;
}
