/**
 * Simulated PostgreSQL servers for engine tests and the simulation harness: each member's server
 * has a data directory (system ID, timeline, WAL position, timeline history), a role and a
 * primary it streams from. Replicas catch up with their upstream when `replicate()` runs, as long
 * as their timeline history is compatible; a server whose WAL went past the point where the
 * upstream's history left its timeline has diverged and no longer streams, until pg_rewind.
 * Actions take simulated time on the injected clock and honour their AbortSignal.
 */
import type { TimelineHistory, TimelineHistoryEntry } from '@pgha/dcs';
import type { FollowTarget, SlotPlan, SlotSyncReport, SynchronousStandbySetting } from '../core/actions.js';
import type { Clock, PostgresPort, StartOptions, StopOptions } from '../runtime/ports.js';
import type { LocalPostgresState, PostgresRole } from '../core/snapshot.js';

export interface FakePostgresTimings {
  bootstrapMs: number;
  cloneMs: number;
  startMs: number;
  stopMs: number;
  promoteMs: number;
  rewindMs: number;
}

const DEFAULT_TIMINGS: FakePostgresTimings = {
  bootstrapMs: 3000,
  cloneMs: 3000,
  startMs: 1000,
  stopMs: 500,
  promoteMs: 500,
  rewindMs: 2000,
};

/** The operations a test can make fail once (`failNext`). */
export type FakeOperation = 'state' | 'bootstrap' | 'createReplica' | 'start' | 'stop' | 'fence' | 'restart' | 'promote' | 'follow' | 'rewind' | 'syncSlots';

/** One simulated server; tests may read and change it directly. */
export interface FakeServer {
  name: string;
  dataDirectory: 'empty' | 'initialized';
  systemId: string | null;
  /** The postmaster runs (accepting connections, or still `starting`). */
  running: boolean;
  state: string;
  /** Running: current role; stopped: the role pg_control records. */
  role: PostgresRole | null;
  timeline: number;
  lsn: number;
  history: TimelineHistoryEntry[];
  following: string | null;
  streaming: boolean;
  pendingRestart: boolean;
  rewindPossible: boolean;
  /** `state()` hangs until aborted (a stuck server). */
  frozen: boolean;
  /** Operations that fail the next time they are called, with this message. */
  failNext: Partial<Record<FakeOperation, string>>;
  /** How long the next start takes to accept connections, overriding the timing (ms). */
  nextStartMs: number | null;
  /**
   * The lifecycle action holding the server (`promote`, `stop`), null when none. As the real
   * controller's lifecycle lock, a `stop` or `promote` called meanwhile is refused at once;
   * `fence` is not.
   */
  busy: string | null;
}

export class FakePostgresWorld {
  readonly servers = new Map<string, FakeServer>();
  readonly #clock: Clock;
  readonly #timings: FakePostgresTimings;
  #sysidCounter = 0;

  constructor(clock: Clock, timings: Partial<FakePostgresTimings> = {}) {
    this.#clock = clock;
    this.#timings = { ...DEFAULT_TIMINGS, ...timings };
  }

  /** The server of `name`, created with an empty data directory on first use. */
  server(name: string): FakeServer {
    let s = this.servers.get(name);
    if (!s) {
      s = {
        name,
        dataDirectory: 'empty',
        systemId: null,
        running: false,
        state: 'stopped',
        role: null,
        timeline: 0,
        lsn: 0,
        history: [],
        following: null,
        streaming: false,
        pendingRestart: false,
        rewindPossible: true,
        frozen: false,
        failNext: {},
        nextStartMs: null,
        busy: null,
      };
      this.servers.set(name, s);
    }
    return s;
  }

  /** The PostgresPort of `name`'s server. */
  port(name: string): PostgresPort {
    return new FakePostgresPort(this, this.server(name), this.#clock, this.#timings);
  }

  /** Writes `bytes` of WAL on `name` if it is a primary accepting writes; returns whether it did. */
  write(name: string, bytes: number): boolean {
    const s = this.servers.get(name);
    if (!s || !isWritable(s)) return false;
    s.lsn += bytes;
    return true;
  }

  /** The postmaster of `name` dies (kill -9, OOM, machine loss). */
  crash(name: string): void {
    const s = this.server(name);
    if (!s.running) return;
    s.running = false;
    s.streaming = false;
    s.state = 'crashed';
  }

  /** Servers accepting writes right now. */
  writablePrimaries(): string[] {
    return [...this.servers.values()].filter(isWritable).map((s) => s.name);
  }

  /** Every streaming replica catches up with its upstream (cascades settle in a few passes). */
  replicate(): void {
    for (let pass = 0; pass < this.servers.size + 1; pass++) {
      for (const r of this.servers.values()) this.#catchUp(r);
    }
  }

  /** The next system identifier (19 digits, as PostgreSQL's). */
  nextSystemId(): string {
    return String(7_300_000_000_000_000_000n + BigInt(++this.#sysidCounter));
  }

  #catchUp(r: FakeServer): void {
    if (!r.running || r.role !== 'replica' || r.state !== 'running') return;
    const up = r.following ? this.servers.get(r.following) : undefined;
    if (!up || !up.running || up.state !== 'running' || up.systemId !== r.systemId) {
      r.streaming = false;
      return;
    }
    if (!canFollow(r, up)) {
      r.streaming = false;
      return;
    }
    r.lsn = Math.max(r.lsn, up.lsn);
    r.timeline = up.timeline;
    r.history = up.history.map((e) => ({ ...e }));
    r.streaming = true;
  }
}

function isWritable(s: FakeServer): boolean {
  return s.running && s.state === 'running' && s.role === 'primary';
}

/** `r` can stream from `up` without pg_rewind. */
export function canFollow(r: Pick<FakeServer, 'timeline' | 'lsn'>, up: Pick<FakeServer, 'timeline' | 'lsn' | 'history'>): boolean {
  if (r.timeline === up.timeline) return r.lsn <= up.lsn;
  if (r.timeline > up.timeline) return false;
  const entry = up.history.find((e) => e.timeline === r.timeline);
  return entry !== undefined && r.lsn <= entry.lsn;
}

class FakePostgresPort implements PostgresPort {
  readonly #world: FakePostgresWorld;
  readonly #s: FakeServer;
  readonly #clock: Clock;
  readonly #t: FakePostgresTimings;

  constructor(world: FakePostgresWorld, server: FakeServer, clock: Clock, timings: FakePostgresTimings) {
    this.#world = world;
    this.#s = server;
    this.#clock = clock;
    this.#t = timings;
  }

  async state(signal: AbortSignal): Promise<LocalPostgresState> {
    const s = this.#s;
    this.#maybeFail('state');
    if (s.frozen) {
      await this.#clock.sleep(Number.MAX_SAFE_INTEGER, signal);
      throw new Error(`${s.name}: PostgreSQL did not answer`);
    }
    return {
      dataDirectory: s.dataDirectory,
      systemId: s.systemId,
      running: s.running,
      state: s.state,
      role: s.role,
      timeline: s.dataDirectory === 'empty' ? null : s.timeline,
      lsn: s.dataDirectory === 'empty' ? null : s.lsn,
      receivedLsn: s.running && s.role === 'replica' ? s.lsn : null,
      replayedLsn: s.running && s.role === 'replica' ? s.lsn : null,
      following: s.running && s.role === 'replica' ? s.following : null,
      streaming: s.streaming,
      pendingRestart: s.pendingRestart,
      rewindPossible: s.rewindPossible,
    };
  }

  async bootstrap(signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('bootstrap');
    if (s.dataDirectory !== 'empty') throw new Error(`${s.name}: data directory is not empty`);
    s.state = 'initializing new cluster';
    await this.#take(this.#t.bootstrapMs, signal, () => {
      s.state = 'stopped';
    });
    Object.assign(s, {
      dataDirectory: 'initialized',
      systemId: this.#world.nextSystemId(),
      timeline: 1,
      lsn: 0x3000000,
      history: [],
      running: true,
      state: 'running',
      role: 'primary',
      following: null,
      streaming: false,
    });
  }

  async createReplica(source: FollowTarget, signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('createReplica');
    if (s.running) throw new Error(`${s.name}: cannot clone into a running server`);
    const check = (): FakeServer => {
      const src = this.#world.servers.get(source.name);
      if (!src || !src.running || src.state !== 'running') throw new Error(`${s.name}: clone source ${source.name} is not running`);
      return src;
    };
    check();
    s.state = 'creating replica';
    await this.#take(this.#t.cloneMs, signal, () => {
      s.state = 'stopped';
    });
    const src = check();
    Object.assign(s, {
      dataDirectory: 'initialized',
      systemId: src.systemId,
      timeline: src.timeline,
      lsn: src.lsn,
      history: src.history.map((e) => ({ ...e })),
      role: 'replica',
      state: 'stopped',
      following: null,
    });
  }

  async start(options: StartOptions, signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('start');
    if (s.dataDirectory === 'empty') throw new Error(`${s.name}: no data directory`);
    if (s.running) {
      if (s.state === 'running' && s.role === options.role) return;
      throw new Error(`${s.name}: already running as ${s.role}`);
    }
    const startMs = s.nextStartMs ?? this.#t.startMs;
    s.nextStartMs = null;
    s.running = true;
    s.state = 'starting';
    s.role = options.role;
    s.following = options.role === 'replica' ? (options.follow?.name ?? null) : null;
    s.streaming = false;
    const finished = (): void => {
      if (s.running && s.state === 'starting') s.state = 'running';
    };
    if (startMs > options.timeoutMs) {
      // Still recovering when the caller stops waiting: it keeps starting in the background.
      void this.#clock.sleep(startMs).then(finished);
      await this.#take(options.timeoutMs, signal, () => this.#down('stopped'));
      throw new Error(`${s.name}: PostgreSQL did not start within ${options.timeoutMs} ms`);
    }
    await this.#take(startMs, signal, () => this.#down('stopped'));
    finished();
  }

  async stop(options: StopOptions, _signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('stop');
    if (!s.running) return;
    await this.#exclusive('stop', async () => {
      if (options.mode !== 'immediate' && s.role === 'primary' && s.state === 'running') {
        // The shutdown checkpoint, sent to the streaming replicas before the postmaster exits.
        s.lsn += 128;
        this.#world.replicate();
      }
      s.state = 'stopping';
      // Writes stop at once; the rest of the shutdown takes time.
      await this.#clock.sleep(options.mode === 'immediate' ? 0 : this.#t.stopMs);
      this.#down('stopped');
    });
  }

  async fence(_signal: AbortSignal): Promise<void> {
    this.#maybeFail('fence');
    if (this.#s.running) this.#down('stopped');
  }

  async restart(signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('restart');
    const role = s.role ?? 'replica';
    const follow = s.following ? { name: s.following, connUrl: null } : null;
    await this.stop({ mode: 'fast' }, signal);
    await this.start({ role, follow, timeoutMs: Number.MAX_SAFE_INTEGER }, signal);
  }

  async promote(signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('promote');
    if (!s.running || s.role !== 'replica') throw new Error(`${s.name}: not a running replica`);
    await this.#exclusive('promote', () => this.#take(this.#t.promoteMs, signal));
    if (!s.running) throw new Error(`${s.name}: stopped while promoting`);
    s.history = [...s.history, { timeline: s.timeline, lsn: s.lsn, reason: 'no recovery target specified' }];
    s.timeline += 1;
    s.role = 'primary';
    s.following = null;
    s.streaming = false;
    s.state = 'running';
  }

  /** The simulated servers report no WAL receiver (walReceiver absent), so nothing asks for this. */
  async restartWalReceiver(): Promise<boolean> {
    return this.#s.running && this.#s.role === 'replica';
  }

  /** This fake keeps no checkpoint timeline (it reports none), so a checkpoint changes nothing. */
  async checkpoint(_signal: AbortSignal): Promise<void> {
    if (!this.#s.running) throw new Error(`${this.#s.name}: not running`);
  }

  async follow(target: FollowTarget | null, signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('follow');
    if (!s.running || s.role !== 'replica') throw new Error(`${s.name}: not a running replica`);
    await this.#take(this.#t.startMs, signal);
    s.following = target?.name ?? null;
    s.streaming = false;
  }

  async rewind(source: FollowTarget, signal: AbortSignal): Promise<void> {
    const s = this.#s;
    this.#maybeFail('rewind');
    if (s.running) await this.stop({ mode: 'fast' }, signal);
    const src = this.#world.servers.get(source.name);
    if (!src || !src.running) throw new Error(`${s.name}: pg_rewind source ${source.name} is not running`);
    await this.#take(this.#t.rewindMs, signal);
    const entry = src.history.find((e) => e.timeline === s.timeline);
    s.lsn = entry ? Math.min(s.lsn, entry.lsn) : src.lsn;
    s.timeline = entry ? s.timeline : src.timeline;
    s.history = src.history.filter((e) => e.timeline < s.timeline).map((e) => ({ ...e }));
    s.role = 'replica';
    s.state = 'stopped';
  }

  async removeDataDirectory(_signal: AbortSignal): Promise<void> {
    const s = this.#s;
    if (s.running) throw new Error(`${s.name}: cannot remove the data directory of a running server`);
    Object.assign(s, { dataDirectory: 'empty', systemId: null, timeline: 0, lsn: 0, history: [], role: null, following: null });
  }

  /** The slot plans carried out so far (tests). */
  slotPlans: SlotPlan[] = [];

  async syncSlots(plan: SlotPlan, _signal: AbortSignal): Promise<SlotSyncReport> {
    this.#maybeFail('syncSlots');
    this.slotPlans.push(plan);
    return { failures: [], walRemoved: [] };
  }

  /** The logical slots copies were asked for (tests). */
  copiedSlots: string[] = [];

  async copyLogicalSlots(_source: FollowTarget, slots: string[], _signal: AbortSignal): Promise<void> {
    this.copiedSlots.push(...slots);
  }

  /** What the last `setSynchronousStandbyNames` asked for (tests); undefined = never called. */
  synchronousStandbyNames: SynchronousStandbySetting | null | undefined = undefined;

  async setSynchronousStandbyNames(setting: SynchronousStandbySetting | null, _signal: AbortSignal): Promise<void> {
    this.synchronousStandbyNames = setting;
  }

  async timelineHistory(_signal: AbortSignal): Promise<TimelineHistory> {
    return this.#s.history.map((e) => ({ ...e }));
  }

  #down(state: string): void {
    const s = this.#s;
    s.running = false;
    s.streaming = false;
    s.state = state;
  }

  /** Runs `fn` holding the server, as the controller's lifecycle lock: refused while another action holds it. */
  async #exclusive(action: string, fn: () => Promise<void>): Promise<void> {
    const s = this.#s;
    if (s.busy !== null) throw new Error(`${s.name}: cannot ${action}: ${s.busy} is in progress`);
    s.busy = action;
    try {
      await fn();
    } finally {
      s.busy = null;
    }
  }

  #maybeFail(op: FakeOperation): void {
    const message = this.#s.failNext[op];
    if (message === undefined) return;
    delete this.#s.failNext[op];
    throw new Error(`${this.#s.name}: ${message}`);
  }

  /** Waits `ms` of simulated time; on abort runs `undo` and rejects. */
  async #take(ms: number, signal: AbortSignal, undo?: () => void): Promise<void> {
    await this.#clock.sleep(ms, signal);
    if (signal.aborted) {
      undo?.();
      throw new Error(`${this.#s.name}: aborted`);
    }
  }
}
