/**
 * What every part of the driver test suites shares: the target's options, the drivers a test
 * made (closed, with revoke, after each test), and waiting for a change to reach another driver.
 */
import { afterEach, expect } from 'vitest';
import { systemClock, type MonotonicClock } from '../clock.js';
import type { DcsDriver, RawCluster, StoredKey, WatchEvent } from '../driver.js';
import { DcsErrorCode, isDcsError } from '../errors.js';
import type { MemberData } from '../model.js';

export interface MakeDriverOptions {
  scope: string;
  /** Member name. */
  name: string;
  /** Default `/service`. */
  namespace?: string;
  /** Seconds; default 10. */
  ttl?: number;
  /** Seconds; default 1. */
  loopWait?: number;
  /** Seconds; default 3. */
  retryTimeout?: number;
}

export interface ConformanceTarget {
  /** Label for the describe block. */
  name: string;
  /**
   * Creates a driver for member `name` in cluster `scope`. All drivers made with the same
   * scope (and namespace) in one test share the same backend. Options not given take the
   * defaults documented on MakeDriverOptions.
   */
  makeDriver(o: MakeDriverOptions): Promise<DcsDriver>;
  /** The clock the drivers were given (`DriverOptions.clock`); default `systemClock`. */
  clock?: MonotonicClock;
  /** Longest wait, in ms, for a change made by one driver to show in another's load or watch. Default 10 000. */
  propagationTimeoutMs?: number;
}

export const STORED_KEYS: StoredKey[] = ['initialize', 'config', 'failover', 'sync', 'history', 'status', 'failsafe'];

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function randomScope(): string {
  return `conf-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The keys of a load, sorted, for exact comparisons. */
export function keysOf(cluster: RawCluster): string[] {
  return [...cluster.nodes.keys()].sort();
}

export function valueOf(cluster: RawCluster, key: string): string | undefined {
  return cluster.nodes.get(key)?.value;
}

export async function expectClosed(call: () => Promise<unknown>, what: string): Promise<void> {
  let error: unknown = undefined;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  expect(isDcsError(error, DcsErrorCode.Closed), `${what} after close() should reject DCS_CLOSED, got ${String(error)}`).toBe(true);
}

export function memberData(overrides: Partial<MemberData> = {}): MemberData {
  return {
    conn_url: 'postgres://127.0.0.1:5432/postgres',
    api_url: 'http://127.0.0.1:8008/patroni',
    state: 'running',
    role: 'replica',
    version: '3.0.2',
    tags: {},
    extra: {},
    ...overrides,
  };
}

/** Watch events of one driver, collected from the moment it was made. */
export interface Recorder {
  events: WatchEvent[];
  stop: () => void;
  /** Resolves once an event for `key` (or `*`) arrived after the first `after` events. */
  waitFor(key: string, after: number): Promise<void>;
}

export interface ContractContext {
  /** Makes a driver with the target; it is closed (with revoke) after the test. */
  make(o: MakeDriverOptions): Promise<DcsDriver>;
  randomScope(): string;
  clock: MonotonicClock;
  /** Longest wait, in ms, for a change to show in another driver's load or watch. */
  propagationMs: number;
  /** Polls `check` (which throws while unmet) until it passes or the propagation bound runs out. */
  eventually<T>(check: () => Promise<T>, what: string, boundMs?: number): Promise<T>;
  /** Another driver's load, retried until `check` passes (its view may be a watch-fed cache). */
  eventuallyLoad(driver: DcsDriver, what: string, check: (c: RawCluster) => void, boundMs?: number): Promise<RawCluster>;
  /** Collects watch events and waits for one with a given key. */
  recorder(driver: DcsDriver): Recorder;
  /**
   * Polls `condition` every `everyMs` until it holds, rejecting after `boundMs` (default: the
   * propagation bound). Only waits: the checks belong after it, where a failure is not retried.
   */
  until(what: string, condition: () => boolean, boundMs?: number, everyMs?: number): Promise<void>;
}

/**
 * The context of one suite. Registers the `afterEach` that closes the suite's drivers (after
 * `cleanUp`, which undoes what a test did to the store), so it is called inside the suite's
 * `describe`.
 */
export function contractContext(
  target: Pick<ConformanceTarget, 'makeDriver' | 'clock' | 'propagationTimeoutMs'>,
  cleanUp?: () => Promise<void>,
): ContractContext {
  const clock = target.clock ?? systemClock;
  const propagationMs = target.propagationTimeoutMs ?? 10_000;
  const opened: DcsDriver[] = [];

  afterEach(async () => {
    await cleanUp?.();
    const drivers = opened.splice(0);
    await Promise.all(drivers.map((d) => d.close({ revoke: true }).catch(() => undefined)));
  });

  async function make(o: MakeDriverOptions): Promise<DcsDriver> {
    const driver = await target.makeDriver(o);
    opened.push(driver);
    return driver;
  }

  async function eventually<T>(check: () => Promise<T>, what: string, boundMs = propagationMs): Promise<T> {
    const start = Date.now();
    let last: unknown;
    for (;;) {
      try {
        return await check();
      } catch (e) {
        last = e;
      }
      if (Date.now() - start > boundMs) {
        throw new Error(`${what}: not seen within ${boundMs} ms: ${String(last)}`, { cause: last });
      }
      await sleep(25);
    }
  }

  function eventuallyLoad(driver: DcsDriver, what: string, check: (c: RawCluster) => void, boundMs?: number): Promise<RawCluster> {
    return eventually(
      async () => {
        const c = await driver.load();
        check(c);
        return c;
      },
      what,
      boundMs,
    );
  }

  function recorder(driver: DcsDriver): Recorder {
    const events: WatchEvent[] = [];
    const stop = driver.watch((e) => events.push(e));
    return {
      events,
      stop,
      waitFor: (key, after) =>
        eventually(async () => {
          if (!events.slice(after).some((e) => e.key === key || e.key === '*')) throw new Error(`no '${key}' event yet`);
        }, `watch event for '${key}'`),
    };
  }

  async function until(what: string, condition: () => boolean, boundMs = propagationMs, everyMs = 25): Promise<void> {
    const start = Date.now();
    while (!condition()) {
      if (Date.now() - start > boundMs) throw new Error(`${what}: not seen within ${boundMs} ms`);
      await sleep(everyMs);
    }
  }

  return { make, randomScope, clock, propagationMs, eventually, eventuallyLoad, recorder, until };
}
