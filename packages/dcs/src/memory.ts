/**
 * An in-memory DCS for unit and engine tests: one backend holds the keys of any number of
 * clusters, and each `createDriver` call gives an agent its own view with its own session.
 *
 * Time. Session expiry runs on the backend's injected clock and is evaluated lazily on every
 * access, so a test can advance a fake clock and the next call sees expired sessions gone.
 * Deadlines and the `slow` fault use real timers (`setTimeout`), because they model how long a
 * caller waits, not the ttl arithmetic the engine reasons about.
 *
 * Sessions. Every successful round trip refreshes the caller's session (as a ZooKeeper ping or
 * an etcd keepalive riding along with each cycle would); `acquireLeader`, `renewLeader` and
 * `touchMember` create one when there is none. A driver that stops calling, or whose calls all
 * fail, loses its session `ttl` seconds (on the clock) after its last successful call.
 */
import { systemClock, timerDelay } from './clock.js';
import type { MonotonicClock } from './clock.js';
import type {
  CallOptions,
  DcsDriver,
  DcsTiming,
  DriverOptions,
  Expectation,
  RawCluster,
  RawNode,
  SessionHold,
  StoredKey,
  WatchEvent,
} from './driver.js';
import { DcsError, DcsErrorCode, isDcsError } from './errors.js';
import { KEY, clusterPrefix, memberKey } from './keys.js';
import type { Logger } from './logger.js';

export interface MemoryBackendOptions {
  /** The clock sessions expire on. Pass the same instance as the drivers' `DriverOptions.clock`. */
  clock?: MonotonicClock;
}

/** Which drivers a fault applies to: those of one member name, or all (no `member`). */
export interface FaultTarget {
  member?: string;
}

export interface MemoryFaults {
  /**
   * Calls fail with `DCS_UNAVAILABLE` and nothing reaches the store (watch events are dropped
   * too). `mode: 'refuse'` (default) rejects at once, like a refused connection; `'hang'` rejects
   * only at each call's deadline, like a frozen server or a cut network.
   */
  unreachable(options?: FaultTarget & { mode?: 'refuse' | 'hang' }): void;
  /**
   * Calls reach the store at once but their answers (and watch events) arrive `ms` later; a
   * call whose deadline comes first rejects `DCS_UNAVAILABLE` at the deadline although its
   * write happened.
   */
  slow(ms: number, options?: FaultTarget): void;
  /** Removes the fault set for `member` (or the one set for all members), or every fault when called without arguments. */
  heal(options?: FaultTarget): void;
  /**
   * Ends the live sessions of every driver named `member` now, as a server-side session expiry
   * would: their ephemeral keys go and their `hold().validUntil` becomes null. True if there was
   * one.
   */
  expireSession(member: string): boolean;
}

export interface MemoryBackend {
  /** A driver on this backend; usable as a `DriverFactory`. */
  createDriver(options: DriverOptions): DcsDriver;
  faults: MemoryFaults;
  /** Every live key (absolute path → value), after expiring overdue sessions. */
  snapshot(): Map<string, string>;
}

type Fault = { kind: 'unreachable'; mode: 'refuse' | 'hang' } | { kind: 'slow'; ms: number };

interface StoredNode {
  value: string;
  version: number;
  /** Session id for ephemeral keys. */
  owner?: string;
}

interface Session {
  id: string;
  member: string;
  ttlMs: number;
  lastRefresh: number;
  alive: boolean;
}

const ALL = Symbol('all members');

export function createMemoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  const clock = options.clock ?? systemClock;
  const keys = new Map<string, StoredNode>();
  const sessions = new Map<string, Session>();
  const drivers = new Set<MemoryDriver>();
  const faults = new Map<string | typeof ALL, Fault>();
  let revision = 0;
  let sessionCounter = 0;

  const backend: Backend = {
    clock,
    keys,
    nextVersion: () => ++revision,
    faultFor: (member) => faults.get(member) ?? faults.get(ALL),
    sweep() {
      const now = clock.now();
      for (const session of sessions.values()) {
        if (session.alive && now >= session.lastRefresh + session.ttlMs) endSession(session);
      }
    },
    openSession(member, ttlMs) {
      const session: Session = { id: `memory-session-${++sessionCounter}`, member, ttlMs, lastRefresh: clock.now(), alive: true };
      sessions.set(session.id, session);
      return session;
    },
    endSession,
    changed,
    register: (d) => void drivers.add(d),
    unregister: (d) => void drivers.delete(d),
  };

  function endSession(session: Session): void {
    session.alive = false;
    sessions.delete(session.id);
    for (const [key, node] of keys) {
      if (node.owner === session.id) {
        keys.delete(key);
        changed(key);
      }
    }
  }

  function changed(absoluteKey: string, created = false): void {
    for (const d of drivers) d.notify(absoluteKey, created);
  }

  return {
    createDriver: (driverOptions) => new MemoryDriver(backend, driverOptions),
    faults: {
      unreachable(o = {}) {
        faults.set(o.member ?? ALL, { kind: 'unreachable', mode: o.mode ?? 'refuse' });
      },
      slow(ms, o = {}) {
        faults.set(o.member ?? ALL, { kind: 'slow', ms });
      },
      heal(o) {
        if (o === undefined) faults.clear();
        else faults.delete(o.member ?? ALL);
      },
      expireSession(member) {
        let found = false;
        for (const session of [...sessions.values()]) {
          if (session.member === member && session.alive) {
            endSession(session);
            found = true;
          }
        }
        return found;
      },
    },
    snapshot() {
      backend.sweep();
      return new Map([...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, n]) => [k, n.value]));
    },
  };
}

/** What drivers see of their backend. */
interface Backend {
  clock: MonotonicClock;
  keys: Map<string, StoredNode>;
  nextVersion(): number;
  faultFor(member: string): Fault | undefined;
  sweep(): void;
  openSession(member: string, ttlMs: number): Session;
  endSession(session: Session): void;
  changed(absoluteKey: string, created?: boolean): void;
  register(driver: MemoryDriver): void;
  unregister(driver: MemoryDriver): void;
}

/** The outcome of one operation on the store, before the answer travels back. */
interface Answer<T> {
  value: T;
  /** The operation refreshed (or created) the caller's session. */
  refreshed: boolean;
}

class MemoryDriver implements DcsDriver {
  readonly kind = 'memory';
  readonly prefix: string;
  readonly #backend: Backend;
  readonly #name: string;
  readonly #clock: MonotonicClock;
  readonly #logger: Logger;
  #timing: DcsTiming;
  #session: Session | null = null;
  /** Every session this driver opened: keys on any other session belong to another driver. */
  readonly #ownSessions = new Set<string>();
  #validUntil: number | null = null;
  #closed = false;
  readonly #listeners = new Set<(event: WatchEvent) => void>();
  /** Rejecters of calls still waiting for their answer, so close() can settle them. */
  readonly #pending = new Set<(e: DcsError) => void>();

  constructor(backend: Backend, options: DriverOptions) {
    this.#backend = backend;
    this.#name = options.name;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#timing = { ttl: options.ttl, loopWait: options.loopWait, retryTimeout: options.retryTimeout };
    this.prefix = clusterPrefix(options.namespace, options.scope);
    backend.register(this);
  }

  load(options?: CallOptions): Promise<RawCluster> {
    return this.#call(options, 'load', () => {
      const nodes = new Map<string, RawNode>();
      for (const [key, node] of this.#backend.keys) {
        if (!key.startsWith(this.prefix)) continue;
        const raw: RawNode = { value: node.value, version: String(node.version) };
        if (node.owner !== undefined) raw.owner = node.owner;
        nodes.set(key.slice(this.prefix.length), raw);
      }
      return this.#answer({ nodes });
    });
  }

  acquireLeader(options?: CallOptions): Promise<boolean> {
    return this.#call(options, 'acquireLeader', () => {
      const session = this.#ensureSession();
      const key = this.prefix + KEY.leader;
      if (this.#backend.keys.has(key)) return { value: false, refreshed: true };
      this.#put(key, this.#name, session.id);
      return { value: true, refreshed: true };
    });
  }

  renewLeader(options?: CallOptions): Promise<boolean> {
    return this.#call(options, 'renewLeader', () => {
      const session = this.#ensureSession();
      const key = this.prefix + KEY.leader;
      const node = this.#backend.keys.get(key);
      if (node === undefined || node.value !== this.#name || this.#foreign(node)) return { value: false, refreshed: true };
      if (node.owner !== session.id) this.#put(key, this.#name, session.id);
      return { value: true, refreshed: true };
    });
  }

  releaseLeader(options?: CallOptions): Promise<boolean> {
    return this.#call(options, 'releaseLeader', () => {
      const key = this.prefix + KEY.leader;
      const node = this.#backend.keys.get(key);
      if (node === undefined || node.value !== this.#name || this.#foreign(node)) return this.#answer(false);
      this.#delete(key);
      return this.#answer(true);
    });
  }

  touchMember(value: string, options?: CallOptions): Promise<void> {
    return this.#call(options, 'touchMember', () => {
      const session = this.#ensureSession();
      const key = this.prefix + memberKey(this.#name);
      const node = this.#backend.keys.get(key);
      if (node !== undefined && this.#foreign(node)) {
        throw new DcsError(DcsErrorCode.Conflict, `memory DCS: ${key} belongs to another session (${node.owner}): another agent named ${this.#name} is running`);
      }
      this.#put(key, value, session.id);
      return { value: undefined, refreshed: true };
    });
  }

  deleteMember(name: string, options?: CallOptions): Promise<boolean> {
    return this.#call(options, 'deleteMember', () => {
      const key = this.prefix + memberKey(name);
      if (!this.#backend.keys.has(key)) return this.#answer(false);
      this.#delete(key);
      return this.#answer(true);
    });
  }

  write(key: StoredKey, value: string, expect: Expectation, options?: CallOptions): Promise<boolean> {
    return this.#call(options, `write ${key}`, () => {
      const absolute = this.prefix + key;
      if (!this.#holds(this.#backend.keys.get(absolute), expect)) return this.#answer(false);
      this.#put(absolute, value, undefined);
      return this.#answer(true);
    });
  }

  remove(key: StoredKey, expect: Expectation, options?: CallOptions): Promise<boolean> {
    return this.#call(options, `remove ${key}`, () => {
      const absolute = this.prefix + key;
      const node = this.#backend.keys.get(absolute);
      if (node === undefined || !this.#holds(node, expect)) return this.#answer(false);
      this.#delete(absolute);
      return this.#answer(true);
    });
  }

  deleteCluster(options?: CallOptions): Promise<void> {
    return this.#call(options, 'deleteCluster', () => {
      for (const key of [...this.#backend.keys.keys()]) {
        if (key.startsWith(this.prefix)) this.#delete(key);
      }
      return this.#answer(undefined);
    });
  }

  watch(listener: (event: WatchEvent) => void): () => void {
    if (this.#closed) return () => {};
    // A wrapper, so subscribing the same function twice gives two independent subscriptions.
    const entry = (event: WatchEvent): void => listener(event);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  hold(): SessionHold {
    if (!this.#closed) this.#backend.sweep();
    const session = this.#session;
    const alive = session !== null && session.alive && !this.#closed;
    return {
      validUntil: alive ? this.#validUntil : null,
      ttl: alive ? session.ttlMs / 1000 : this.#timing.ttl,
    };
  }

  async setTiming(timing: DcsTiming): Promise<void> {
    if (this.#closed) throw closedError();
    // Takes effect at the session's next refresh, as a re-granted lease would.
    this.#timing = { ...timing };
  }

  async close(options: { revoke?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    for (const reject of this.#pending) reject(closedError());
    this.#pending.clear();
    this.#backend.unregister(this);
    const session = this.#session;
    // A revoke is a request like any other: it does not get through an unreachable store.
    if (options.revoke && session?.alive && this.#backend.faultFor(this.#name)?.kind !== 'unreachable') {
      this.#backend.endSession(session);
    }
  }

  /** Called by the backend for every changed key; reports those under our prefix. */
  notify(absoluteKey: string, created = false): void {
    if (!absoluteKey.startsWith(this.prefix) || this.#listeners.size === 0) return;
    const fault = this.#backend.faultFor(this.#name);
    if (fault?.kind === 'unreachable') return;
    const event: WatchEvent = { key: absoluteKey.slice(this.prefix.length), ...(created ? { created: true } : {}) };
    const deliver = (): void => {
      for (const listener of [...this.#listeners]) {
        // A listener removed by an earlier one in this loop must not be called any more.
        if (!this.#listeners.has(listener)) continue;
        try {
          listener(event);
        } catch (e) {
          this.#logger.warn({ err: e, key: event.key }, 'DCS watch listener threw');
        }
      }
    };
    if (fault?.kind === 'slow') setTimeout(deliver, fault.ms);
    else queueMicrotask(deliver);
  }

  #answer<T>(value: T): Answer<T> {
    // Any successful round trip keeps an existing session alive.
    const session = this.#session;
    if (session?.alive) {
      session.lastRefresh = this.#backend.clock.now();
      session.ttlMs = this.#timing.ttl * 1000;
      return { value, refreshed: true };
    }
    return { value, refreshed: false };
  }

  #ensureSession(): Session {
    const session = this.#session;
    if (session?.alive) {
      session.lastRefresh = this.#backend.clock.now();
      session.ttlMs = this.#timing.ttl * 1000;
      return session;
    }
    this.#session = this.#backend.openSession(this.#name, this.#timing.ttl * 1000);
    this.#ownSessions.add(this.#session.id);
    this.#validUntil = null;
    return this.#session;
  }

  ownsSession(owner: string): boolean {
    return this.#ownSessions.has(owner);
  }

  adoptSession(owner: string): void {
    this.#ownSessions.add(owner);
  }

  /** Attached to a session this driver never had: another driver's (maybe one with our name). */
  #foreign(node: StoredNode): boolean {
    return node.owner !== undefined && !this.#ownSessions.has(node.owner);
  }

  #holds(node: StoredNode | undefined, expect: Expectation): boolean {
    switch (expect.kind) {
      case 'absent':
        return node === undefined;
      case 'version':
        return node !== undefined && String(node.version) === expect.version;
      case 'any':
        return true;
    }
  }

  #put(key: string, value: string, owner: string | undefined): void {
    const node: StoredNode = { value, version: this.#backend.nextVersion() };
    if (owner !== undefined) node.owner = owner;
    const created = !this.#backend.keys.has(key);
    this.#backend.keys.set(key, node);
    this.#backend.changed(key, created);
  }

  #delete(key: string): void {
    this.#backend.keys.delete(key);
    this.#backend.changed(key);
  }

  /**
   * Runs one request: the closed check, the fault of the moment, the operation (atomic, at
   * arrival) and the answer's trip back, all inside the call's deadline.
   */
  #call<T>(options: CallOptions | undefined, what: string, operation: () => Answer<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError());
    const sentAt = this.#clock.now();
    const sessionTtlMs = (): number => (this.#session?.ttlMs ?? this.#timing.ttl * 1000);
    const timeoutMs = options?.timeoutMs ?? this.#timing.retryTimeout * 1000;
    const fault = this.#backend.faultFor(this.#name);

    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(deadline);
        this.#pending.delete(fail);
        return true;
      };
      const fail = (e: DcsError): void => {
        if (finish()) reject(e);
      };
      this.#pending.add(fail);
      const deadline = setTimeout(
        () => fail(unavailable(`memory DCS: ${what} got no answer within ${timeoutMs} ms`)),
        timerDelay(timeoutMs),
      );

      if (fault?.kind === 'unreachable') {
        if (fault.mode === 'refuse') queueMicrotask(() => fail(unavailable(`memory DCS: ${what}: store unreachable`)));
        return;
      }
      this.#backend.sweep();
      let answer: Answer<T>;
      try {
        answer = operation();
      } catch (e) {
        fail(isDcsError(e) ? e : unavailable(`memory DCS: ${what} failed: ${String(e)}`));
        return;
      }
      const deliver = (): void => {
        if (!finish()) return;
        if (answer.refreshed && this.#session?.alive) this.#validUntil = sentAt + sessionTtlMs();
        resolve(answer.value);
      };
      if (fault?.kind === 'slow') setTimeout(deliver, fault.ms);
      else queueMicrotask(deliver);
    });
  }
}

function closedError(): DcsError {
  return new DcsError(DcsErrorCode.Closed, 'memory DCS: the driver is closed');
}

function unavailable(message: string): DcsError {
  return new DcsError(DcsErrorCode.Unavailable, message);
}
