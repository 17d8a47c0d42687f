/**
 * The driver conformance suite: every DCS driver (etcd, ZooKeeper, the in-memory one, a third
 * party's) runs it to show it keeps the contract of `driver.ts`, and the parts of `ClusterStore`
 * that depend on it. A driver package calls it from a test file:
 *
 * ```ts
 * describeDriverConformance({ name: 'etcd3', makeDriver: (o) => createDriver({ ...defaults, ...o }) });
 * ```
 *
 * Each test uses a fresh random scope (so tests never see each other's keys and a shared server
 * needs no cleaning) and closes, with revoke, every driver it made.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import type { MonotonicClock } from './clock.js';
import { createClusterStore } from './cluster-store.js';
import type { DcsDriver, RawCluster, StoredKey, WatchEvent } from './driver.js';
import { DcsErrorCode, isDcsError } from './errors.js';
import { silentLogger } from './logger.js';
import { isInitialized } from './model.js';
import { describeSameNameContract } from './testing-same-name.js';
import type { MemberData } from './model.js';
import type { ClusterStore } from './store.js';

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

const STORED_KEYS: StoredKey[] = ['initialize', 'config', 'failover', 'sync', 'history', 'status', 'failsafe'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function randomScope(): string {
  return `conf-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The keys of a load, sorted, for exact comparisons. */
function keysOf(cluster: RawCluster): string[] {
  return [...cluster.nodes.keys()].sort();
}

function valueOf(cluster: RawCluster, key: string): string | undefined {
  return cluster.nodes.get(key)?.value;
}

async function expectClosed(call: () => Promise<unknown>, what: string): Promise<void> {
  let error: unknown = undefined;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  expect(isDcsError(error, DcsErrorCode.Closed), `${what} after close() should reject DCS_CLOSED, got ${String(error)}`).toBe(true);
}

function memberData(overrides: Partial<MemberData> = {}): MemberData {
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

export function describeDriverConformance(target: ConformanceTarget): void {
  const clock = target.clock ?? systemClock;
  const propagationMs = target.propagationTimeoutMs ?? 10_000;

  describe(`DcsDriver conformance: ${target.name}`, () => {
    const opened: DcsDriver[] = [];

    afterEach(async () => {
      const drivers = opened.splice(0);
      await Promise.all(drivers.map((d) => d.close({ revoke: true }).catch(() => undefined)));
    });

    async function make(o: MakeDriverOptions): Promise<DcsDriver> {
      const driver = await target.makeDriver(o);
      opened.push(driver);
      return driver;
    }

    /** Polls `check` (which throws while unmet) until it passes or the propagation bound runs out. */
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

    /** Another driver's load, retried until `check` passes (its view may be a watch-fed cache). */
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

    /** Collects watch events and waits for one with a given key. */
    function recorder(driver: DcsDriver): { events: WatchEvent[]; stop: () => void; waitFor(key: string, after: number): Promise<void> } {
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

    describe('load', () => {
      it('returns no keys for an empty scope, and a prefix of /<namespace>/<scope>/', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(d.prefix).toBe(`/service/${scope}/`);
        expect(typeof d.kind).toBe('string');
        expect(d.kind.length).toBeGreaterThan(0);
        expect(keysOf(await d.load())).toEqual([]);
        expect(keysOf(await d.load({ timeoutMs: 5000 }))).toEqual([]);
      });

      it('returns exactly the keys written, by relative name (no directory entries)', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.acquireLeader()).toBe(true);
        await d.touchMember('{"role":"master"}');
        expect(await d.write('config', '{"ttl":30}', { kind: 'any' })).toBe(true);
        expect(await d.write('initialize', '', { kind: 'absent' })).toBe(true);
        const c = await d.load();
        expect(keysOf(c)).toEqual(['config', 'initialize', 'leader', 'members/pg0']);
        expect(valueOf(c, 'leader')).toBe('pg0');
        expect(valueOf(c, 'members/pg0')).toBe('{"role":"master"}');
        expect(valueOf(c, 'config')).toBe('{"ttl":30}');
        expect(valueOf(c, 'initialize')).toBe('');
        for (const node of c.nodes.values()) expect(typeof node.version).toBe('string');
      });

      it('never shows keys of another scope, even one whose name extends this one', async () => {
        const a = randomScope();
        const ab = `${a}b`;
        const da = await make({ scope: a, name: 'pg0' });
        const dab = await make({ scope: ab, name: 'pg1' });
        expect(dab.prefix).toBe(`/service/${ab}/`);
        expect(await dab.acquireLeader()).toBe(true);
        await dab.touchMember('{"role":"replica"}');
        expect(await dab.write('config', '{"from":"ab"}', { kind: 'any' })).toBe(true);
        expect(keysOf(await da.load())).toEqual([]);

        expect(await da.write('config', '{"from":"a"}', { kind: 'any' })).toBe(true);
        await da.touchMember('{"role":"master"}');
        // The scope `ab` still sees only its own keys, and `a` sees only its own.
        const cab = await dab.load();
        expect(keysOf(cab)).toEqual(['config', 'leader', 'members/pg1']);
        expect(valueOf(cab, 'config')).toBe('{"from":"ab"}');
        const ca = await da.load();
        expect(keysOf(ca)).toEqual(['config', 'members/pg0']);
        expect(valueOf(ca, 'config')).toBe('{"from":"a"}');
      });

      it('keeps namespaces apart (same scope under two namespaces)', async () => {
        const scope = randomScope();
        const d1 = await make({ scope, name: 'pg0' });
        const d2 = await make({ scope, name: 'pg0', namespace: '/other-ns' });
        expect(d2.prefix).toBe(`/other-ns/${scope}/`);
        expect(await d1.acquireLeader()).toBe(true);
        expect(await d1.write('config', '{"ns":"service"}', { kind: 'any' })).toBe(true);
        expect(keysOf(await d2.load())).toEqual([]);
        // The same member name may hold the lock in the other namespace too.
        expect(await d2.acquireLeader()).toBe(true);
        expect(keysOf(await d1.load())).toEqual(['config', 'leader']);
      });
    });

    describe('leader lock', () => {
      it('lets exactly one of five concurrent drivers acquire the lock', async () => {
        const scope = randomScope();
        const names = ['pg0', 'pg1', 'pg2', 'pg3', 'pg4'];
        const drivers = await Promise.all(names.map((name) => make({ scope, name })));
        const results = await Promise.all(drivers.map((d) => d.acquireLeader()));
        expect(results.filter((r) => r)).toHaveLength(1);
        const winner = names[results.indexOf(true)];
        const c = await drivers[results.indexOf(true)]!.load();
        expect(valueOf(c, 'leader')).toBe(winner);
        // Everybody else agrees once the change has reached them.
        for (const d of drivers) {
          await eventuallyLoad(d, 'leader seen by every driver', (x) => expect(valueOf(x, 'leader')).toBe(winner));
        }
      });

      it('answers false to a second acquire by the holder and keeps the lock', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.acquireLeader()).toBe(true);
        expect(await d.acquireLeader()).toBe(false);
        expect(valueOf(await d.load(), 'leader')).toBe('pg0');
        expect(await d.renewLeader()).toBe(true);
      });

      it('attaches the leader key to the same session as the member key', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        await d.touchMember('{}');
        expect(await d.acquireLeader()).toBe(true);
        const c = await d.load();
        const leaderOwner = c.nodes.get('leader')?.owner;
        const memberOwner = c.nodes.get('members/pg0')?.owner;
        if (leaderOwner !== undefined && memberOwner !== undefined) expect(leaderOwner).toBe(memberOwner);
      });

      it('renews for the owner only, and never re-creates a released key', async () => {
        const scope = randomScope();
        const owner = await make({ scope, name: 'pg0' });
        const other = await make({ scope, name: 'pg1' });
        expect(await other.renewLeader()).toBe(false);
        expect(keysOf(await other.load())).toEqual([]);

        expect(await owner.acquireLeader()).toBe(true);
        expect(await owner.renewLeader()).toBe(true);
        await eventuallyLoad(other, 'leader visible to pg1', (c) => expect(valueOf(c, 'leader')).toBe('pg0'));
        expect(await other.renewLeader()).toBe(false);
        expect(valueOf(await owner.load(), 'leader')).toBe('pg0');

        expect(await owner.releaseLeader()).toBe(true);
        expect(await owner.renewLeader()).toBe(false);
        expect(keysOf(await owner.load())).toEqual([]);
      });

      it('refuses release by a non-owner and leaves the key untouched', async () => {
        const scope = randomScope();
        const owner = await make({ scope, name: 'pg0' });
        const other = await make({ scope, name: 'pg1' });
        expect(await other.releaseLeader()).toBe(false);
        expect(await owner.acquireLeader()).toBe(true);
        const before = (await owner.load()).nodes.get('leader');
        await eventuallyLoad(other, 'leader visible to pg1', (c) => expect(valueOf(c, 'leader')).toBe('pg0'));
        expect(await other.releaseLeader()).toBe(false);
        const after = (await owner.load()).nodes.get('leader');
        expect(after?.value).toBe('pg0');
        expect(after?.version).toBe(before?.version);
      });

      it('lets another member acquire after the owner releases', async () => {
        const scope = randomScope();
        const owner = await make({ scope, name: 'pg0' });
        const next = await make({ scope, name: 'pg1' });
        expect(await owner.acquireLeader()).toBe(true);
        expect(await next.acquireLeader()).toBe(false);
        expect(await owner.releaseLeader()).toBe(true);
        expect(await owner.releaseLeader()).toBe(false);
        expect(await next.acquireLeader()).toBe(true);
        expect(valueOf(await next.load(), 'leader')).toBe('pg1');
        expect(await owner.renewLeader()).toBe(false);
      });

      it('drops the leader and member keys at once on close({ revoke: true }), keeping persistent keys', async () => {
        const scope = randomScope();
        // A ttl well beyond the wait below, so that plain session expiry cannot pass for a revoke.
        const owner = await make({ scope, name: 'pg0', ttl: 20 });
        const observer = await make({ scope, name: 'pg1' });
        await owner.touchMember('{"role":"master"}');
        expect(await owner.acquireLeader()).toBe(true);
        expect(await owner.write('config', '{}', { kind: 'any' })).toBe(true);
        await observer.touchMember('{"role":"replica"}');
        await eventuallyLoad(observer, 'keys of pg0 visible', (c) =>
          expect(keysOf(c)).toEqual(['config', 'leader', 'members/pg0', 'members/pg1']),
        );
        await owner.close({ revoke: true });
        await eventuallyLoad(
          observer,
          'keys of pg0 gone after revoke',
          (c) => expect(keysOf(c)).toEqual(['config', 'members/pg1']),
          Math.min(propagationMs, 10_000),
        );
        expect(await observer.acquireLeader()).toBe(true);
      });
    });

    describeSameNameContract({ make, randomScope, eventuallyLoad });

    describe('session hold', () => {
      it('is null or in the future before the first acquire, and about now + ttl after it', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0', ttl: 10 });
        const fresh = d.hold();
        if (fresh.validUntil !== null) {
          expect(fresh.validUntil).toBeGreaterThan(clock.now());
          expect(fresh.validUntil).toBeLessThanOrEqual(clock.now() + fresh.ttl * 1000 + 5);
        }
        const before = clock.now();
        expect(await d.acquireLeader()).toBe(true);
        const after = clock.now();
        const h = d.hold();
        // The granted ttl may be negotiated (ZooKeeper), but not wildly off what was asked.
        expect(h.ttl).toBeGreaterThanOrEqual(5);
        expect(h.ttl).toBeLessThanOrEqual(20);
        expect(h.validUntil).not.toBeNull();
        // validUntil = send time of the refreshing round trip + ttl, so it cannot lie beyond the
        // end of the call plus ttl; a driver whose keepalive refreshed the session shortly before
        // the call may report an earlier send time, hence the generous lower bound.
        expect(h.validUntil!).toBeLessThanOrEqual(after + h.ttl * 1000 + 5);
        expect(h.validUntil!).toBeGreaterThanOrEqual(before + (h.ttl * 1000) / 2);
      });

      it('moves forward on a successful renewal', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0', ttl: 10 });
        expect(await d.acquireLeader()).toBe(true);
        const first = d.hold().validUntil;
        expect(first).not.toBeNull();
        await sleep(60);
        const before = clock.now();
        expect(await d.renewLeader()).toBe(true);
        const h = d.hold();
        expect(h.validUntil).not.toBeNull();
        expect(h.validUntil!).toBeGreaterThan(first!);
        expect(h.validUntil!).toBeGreaterThanOrEqual(before + (h.ttl * 1000) / 2);
      });
    });

    describe('member keys', () => {
      it('creates and overwrites our own member key, visible to others with the exact value', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        const observer = await make({ scope, name: 'pg1' });
        const v1 = '{"conn_url":"postgres://10.0.0.1:5432/postgres","role":"replica","state":"running"}';
        await d.touchMember(v1);
        const c1 = await eventuallyLoad(observer, 'member created', (c) => expect(valueOf(c, 'members/pg0')).toBe(v1));
        const version1 = c1.nodes.get('members/pg0')?.version;
        const v2 = '{"conn_url":"postgres://10.0.0.1:5432/postgres","role":"master","state":"running"}';
        await d.touchMember(v2);
        expect(valueOf(await d.load(), 'members/pg0')).toBe(v2);
        const c2 = await eventuallyLoad(observer, 'member overwritten', (c) => expect(valueOf(c, 'members/pg0')).toBe(v2));
        expect(c2.nodes.get('members/pg0')?.version).not.toBe(version1);
        expect(keysOf(c2)).toEqual(['members/pg0']);
      });

      it('deletes any member key, answering whether it existed', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        const other = await make({ scope, name: 'pg1' });
        await other.touchMember('{}');
        await d.touchMember('{}');
        await eventuallyLoad(d, 'member pg1 visible', (c) => expect(keysOf(c)).toEqual(['members/pg0', 'members/pg1']));
        expect(await d.deleteMember('pg1')).toBe(true);
        expect(await d.deleteMember('pg1')).toBe(false);
        expect(await d.deleteMember('nobody')).toBe(false);
        expect(keysOf(await d.load())).toEqual(['members/pg0']);
      });
    });

    describe('compare-and-set', () => {
      it('creates with `absent` only when the key does not exist', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.write('initialize', '', { kind: 'absent' })).toBe(true);
        expect(await d.write('initialize', '7268616322854375442', { kind: 'absent' })).toBe(false);
        expect(valueOf(await d.load(), 'initialize')).toBe('');
      });

      it('lets exactly one of several concurrent `absent` writers win', async () => {
        const scope = randomScope();
        const drivers = await Promise.all(['pg0', 'pg1', 'pg2'].map((name) => make({ scope, name })));
        const results = await Promise.all(drivers.map((d, i) => d.write('initialize', `pg${i}`, { kind: 'absent' })));
        expect(results.filter((r) => r)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(valueOf(await drivers[winner]!.load(), 'initialize')).toBe(`pg${winner}`);
      });

      it('writes with `version` only when the version matches; every write changes the version', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.write('config', '{"a":1}', { kind: 'version', version: '1' })).toBe(false);
        expect(keysOf(await d.load())).toEqual([]);
        expect(await d.write('config', '{"a":1}', { kind: 'absent' })).toBe(true);
        const v1 = (await d.load()).nodes.get('config')!.version;
        expect(await d.write('config', '{"a":2}', { kind: 'version', version: v1 })).toBe(true);
        const v2 = (await d.load()).nodes.get('config')!.version;
        expect(v2).not.toBe(v1);
        // A stale version fails and changes nothing.
        expect(await d.write('config', '{"a":3}', { kind: 'version', version: v1 })).toBe(false);
        const c = await d.load();
        expect(valueOf(c, 'config')).toBe('{"a":2}');
        expect(c.nodes.get('config')!.version).toBe(v2);
        // Rewriting the same value is still a write with a new version.
        expect(await d.write('config', '{"a":2}', { kind: 'version', version: v2 })).toBe(true);
        const v3 = (await d.load()).nodes.get('config')!.version;
        expect(new Set([v1, v2, v3]).size).toBe(3);
      });

      it('overwrites or creates with `any`', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.write('status', '{"optime":1}', { kind: 'any' })).toBe(true);
        const v1 = (await d.load()).nodes.get('status')!.version;
        expect(await d.write('status', '{"optime":2}', { kind: 'any' })).toBe(true);
        const c = await d.load();
        expect(valueOf(c, 'status')).toBe('{"optime":2}');
        expect(c.nodes.get('status')!.version).not.toBe(v1);
      });

      it('sees writes of another driver and their versions', async () => {
        const scope = randomScope();
        const a = await make({ scope, name: 'pg0' });
        const b = await make({ scope, name: 'pg1' });
        expect(await a.write('failover', '{"leader":"pg0"}', { kind: 'any' })).toBe(true);
        const seen = await eventuallyLoad(b, 'failover visible', (c) => expect(valueOf(c, 'failover')).toBe('{"leader":"pg0"}'));
        const version = seen.nodes.get('failover')!.version;
        expect(await b.write('failover', '{}', { kind: 'version', version })).toBe(true);
        expect(await a.write('failover', '{"member":"pg1"}', { kind: 'version', version })).toBe(false);
        await eventuallyLoad(a, 'failover cleared', (c) => expect(valueOf(c, 'failover')).toBe('{}'));
      });

      it('removes with `version` and `any`; `absent` and missing keys answer false', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.remove('sync', { kind: 'any' })).toBe(false);
        expect(await d.remove('sync', { kind: 'absent' })).toBe(false);
        expect(await d.write('sync', '{"leader":"pg0","sync_standby":null}', { kind: 'any' })).toBe(true);
        expect(await d.remove('sync', { kind: 'absent' })).toBe(false);
        const v1 = (await d.load()).nodes.get('sync')!.version;
        expect(await d.write('sync', '{"leader":"pg0","sync_standby":"pg1"}', { kind: 'version', version: v1 })).toBe(true);
        expect(await d.remove('sync', { kind: 'version', version: v1 })).toBe(false);
        expect(keysOf(await d.load())).toEqual(['sync']);
        const v2 = (await d.load()).nodes.get('sync')!.version;
        expect(await d.remove('sync', { kind: 'version', version: v2 })).toBe(true);
        expect(keysOf(await d.load())).toEqual([]);
        expect(await d.write('failsafe', '{}', { kind: 'any' })).toBe(true);
        expect(await d.remove('failsafe', { kind: 'any' })).toBe(true);
        expect(await d.remove('failsafe', { kind: 'any' })).toBe(false);
        expect(keysOf(await d.load())).toEqual([]);
      });

      it('stores every persistent key under its relative name', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        for (const key of STORED_KEYS) expect(await d.write(key, `{"key":"${key}"}`, { kind: 'absent' })).toBe(true);
        const c = await d.load();
        expect(keysOf(c)).toEqual([...STORED_KEYS].sort());
        for (const key of STORED_KEYS) expect(valueOf(c, key)).toBe(`{"key":"${key}"}`);
      });

      it('round-trips UTF-8 values exactly (Chinese text, emoji)', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        const observer = await make({ scope, name: 'pg1' });
        const config = '{"comment":"主库切换 — 测试 🐘🚀","tags":{"机房":"上海"}}';
        const member = '{"state":"running","tags":{"区域":"北京 🐘"}}';
        expect(await d.write('config', config, { kind: 'any' })).toBe(true);
        await d.touchMember(member);
        const own = await d.load();
        expect(valueOf(own, 'config')).toBe(config);
        expect(valueOf(own, 'members/pg0')).toBe(member);
        await eventuallyLoad(observer, 'UTF-8 values visible', (c) => {
          expect(valueOf(c, 'config')).toBe(config);
          expect(valueOf(c, 'members/pg0')).toBe(member);
        });
      });
    });

    describe('deleteCluster', () => {
      it('removes every key of this scope and nothing of other scopes or namespaces', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        const sibling = await make({ scope: `${scope}b`, name: 'pg0' });
        const otherNs = await make({ scope, name: 'pg0', namespace: '/other-ns' });
        for (const x of [d, sibling, otherNs]) {
          expect(await x.acquireLeader()).toBe(true);
          await x.touchMember('{}');
          expect(await x.write('config', '{}', { kind: 'any' })).toBe(true);
          expect(await x.write('initialize', '7268616322854375442', { kind: 'any' })).toBe(true);
        }
        await d.deleteCluster();
        expect(keysOf(await d.load())).toEqual([]);
        const expected = ['config', 'initialize', 'leader', 'members/pg0'];
        expect(keysOf(await sibling.load())).toEqual(expected);
        expect(keysOf(await otherNs.load())).toEqual(expected);
        // Deleting an empty cluster is fine, and the scope is usable again afterwards.
        await d.deleteCluster();
        expect(await d.write('initialize', '', { kind: 'absent' })).toBe(true);
      });
    });

    describe('watch', () => {
      it('wakes on leader acquire and release and on config writes by another member; unsubscribe stops it', async () => {
        const scope = randomScope();
        const watcher = await make({ scope, name: 'pg0' });
        const actor = await make({ scope, name: 'pg1' });
        const first = recorder(watcher);
        const second = recorder(watcher);
        // Let a watch that needs a round trip to start get established.
        await watcher.load();
        await sleep(200);

        let mark = first.events.length;
        expect(await actor.acquireLeader()).toBe(true);
        await first.waitFor('leader', mark);

        mark = first.events.length;
        expect(await actor.releaseLeader()).toBe(true);
        await first.waitFor('leader', mark);

        mark = first.events.length;
        expect(await actor.write('config', '{"loop_wait":10}', { kind: 'any' })).toBe(true);
        await first.waitFor('config', mark);

        first.stop();
        first.stop(); // idempotent
        const stoppedAt = first.events.length;
        const secondMark = second.events.length;
        expect(await actor.write('config', '{"loop_wait":5}', { kind: 'any' })).toBe(true);
        await second.waitFor('config', secondMark);
        await sleep(200);
        expect(first.events.length).toBe(stoppedAt);
        second.stop();
      });
    });

    describe('timing', () => {
      it('accepts new timing before the session exists and uses its ttl', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0', ttl: 10 });
        await d.setTiming({ ttl: 15, loopWait: 2, retryTimeout: 4 });
        expect(await d.acquireLeader()).toBe(true);
        const h = d.hold();
        expect(h.ttl).toBeGreaterThan(10);
        expect(h.ttl).toBeLessThanOrEqual(20);
        expect(h.validUntil).not.toBeNull();
        expect(await d.renewLeader()).toBe(true);
      });

      it('after a ttl change while holding the lock, renew either keeps it or reports it lost', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0', ttl: 10 });
        await d.touchMember('{}');
        expect(await d.acquireLeader()).toBe(true);
        await d.setTiming({ ttl: 15, loopWait: 1, retryTimeout: 3 });
        const renewed = await d.renewLeader();
        const c = await d.load();
        if (renewed) {
          expect(valueOf(c, 'leader')).toBe('pg0');
          expect(d.hold().validUntil).not.toBeNull();
          expect(d.hold().ttl).toBeGreaterThan(10);
        } else {
          expect(valueOf(c, 'leader')).not.toBe('pg0');
          expect(await d.acquireLeader()).toBe(true);
        }
      });
    });

    describe('close', () => {
      it('makes every call reject DCS_CLOSED afterwards and is idempotent', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0' });
        expect(await d.acquireLeader()).toBe(true);
        await d.close();
        await d.close();
        await d.close({ revoke: true });
        await expectClosed(() => d.load(), 'load');
        await expectClosed(() => d.acquireLeader(), 'acquireLeader');
        await expectClosed(() => d.renewLeader(), 'renewLeader');
        await expectClosed(() => d.releaseLeader(), 'releaseLeader');
        await expectClosed(() => d.touchMember('{}'), 'touchMember');
        await expectClosed(() => d.deleteMember('pg1'), 'deleteMember');
        await expectClosed(() => d.write('config', '{}', { kind: 'any' }), 'write');
        await expectClosed(() => d.remove('config', { kind: 'any' }), 'remove');
        await expectClosed(() => d.deleteCluster(), 'deleteCluster');
        await expectClosed(() => d.setTiming({ ttl: 10, loopWait: 1, retryTimeout: 3 }), 'setTiming');
        expect(d.hold().validUntil).toBeNull();
        const stop = d.watch(() => {});
        expect(typeof stop).toBe('function');
        stop();
      });
    });

    describe('ClusterStore', () => {
      async function store(scope: string, name: string, legacyPrimaryRole = true): Promise<ClusterStore> {
        const driver = await make({ scope, name });
        return createClusterStore(driver, { name, logger: silentLogger, compatibility: { legacyPrimaryRole } });
      }

      it('loads an empty scope as an empty cluster without warnings', async () => {
        const s = await store(randomScope(), 'pg0');
        const c = await s.loadCluster();
        expect(c.leader).toBeNull();
        expect(c.members).toEqual([]);
        expect(c.initialize).toBeNull();
        expect(c.config).toBeNull();
        expect(c.warnings).toEqual([]);
      });

      it("writes Patroni's compact member JSON and skips an unchanged value", async () => {
        const scope = randomScope();
        const s = await store(scope, 'pg0');
        const data = memberData({ role: 'primary', xlog_location: 67108960, timeline: 1 });
        await s.touchMember(data);
        const raw1 = (await s.driver.load()).nodes.get('members/pg0')!;
        expect(raw1.value).toBe(
          '{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":67108960,"timeline":1}',
        );
        await s.touchMember(data);
        await s.touchMember({ ...data, tags: {}, extra: {} });
        expect((await s.driver.load()).nodes.get('members/pg0')!.version).toBe(raw1.version);
        await s.loadCluster();
        await s.touchMember(data);
        expect((await s.driver.load()).nodes.get('members/pg0')!.version).toBe(raw1.version);
        await s.touchMember(data, { force: true });
        const raw2 = (await s.driver.load()).nodes.get('members/pg0')!;
        expect(raw2.version).not.toBe(raw1.version);
        await s.touchMember({ ...data, xlog_location: 67108961 });
        const raw3 = (await s.driver.load()).nodes.get('members/pg0')!;
        expect(raw3.version).not.toBe(raw2.version);
        expect(JSON.parse(raw3.value).xlog_location).toBe(67108961);

        const other = await store(scope, 'pg1');
        const c = await eventually(async () => {
          const x = await other.loadCluster();
          expect(x.members[0]?.data.xlog_location).toBe(67108961);
          return x;
        }, 'member visible');
        expect(c.members.map((m) => m.name)).toEqual(['pg0']);
        expect(c.members[0]!.data.role).toBe('primary');
        expect(c.members[0]!.data.conn_url).toBe('postgres://127.0.0.1:5432/postgres');
      });

      it('rewrites the member key when it vanished since the last write', async () => {
        const scope = randomScope();
        const s = await store(scope, 'pg0');
        const data = memberData();
        await s.touchMember(data);
        expect(await s.deleteMember('pg0')).toBe(true);
        await s.loadCluster();
        await s.touchMember(data);
        expect((await s.driver.load()).nodes.has('members/pg0')).toBe(true);
      });

      it('writes role primary when legacyPrimaryRole is off', async () => {
        const s = await store(randomScope(), 'pg0', false);
        await s.touchMember(memberData({ role: 'primary' }));
        expect(JSON.parse((await s.driver.load()).nodes.get('members/pg0')!.value).role).toBe('primary');
      });

      it('updateLeader renews, then writes status only when it changed; a non-holder writes nothing', async () => {
        const scope = randomScope();
        const leader = await store(scope, 'pg0');
        const replica = await store(scope, 'pg1');
        expect(await leader.acquireLeader()).toBe(true);
        const status = { optime: 67108960, slots: { pg1: 67108960 }, retain_slots: ['pg1'] };
        expect(await leader.updateLeader(status)).toBe(true);
        const raw1 = (await leader.driver.load()).nodes.get('status')!;
        expect(JSON.parse(raw1.value)).toEqual({ optime: 67108960, slots: { pg1: 67108960 }, retain_slots: ['pg1'] });
        expect(raw1.value).not.toContain(' ');
        expect(await leader.updateLeader({ ...status })).toBe(true);
        expect((await leader.driver.load()).nodes.get('status')!.version).toBe(raw1.version);
        expect(await leader.updateLeader({ ...status, optime: 67109000 })).toBe(true);
        const raw2 = (await leader.driver.load()).nodes.get('status')!;
        expect(JSON.parse(raw2.value).optime).toBe(67109000);
        expect(await leader.updateLeader()).toBe(true);

        expect(await replica.updateLeader({ optime: 1, slots: {}, retain_slots: [] })).toBe(false);
        expect((await leader.driver.load()).nodes.get('status')!.version).toBe(raw2.version);
        const c = await eventually(async () => {
          const x = await replica.loadCluster();
          expect(x.status?.value.optime).toBe(67109000);
          return x;
        }, 'status visible');
        expect(c.leader?.name).toBe('pg0');
        expect(await leader.releaseLeader()).toBe(true);
        expect(await leader.updateLeader(status)).toBe(false);
      });

      it('runs the bootstrap race and records the system identifier', async () => {
        const scope = randomScope();
        const stores = await Promise.all(['pg0', 'pg1', 'pg2'].map((n) => store(scope, n)));
        const won = await Promise.all(stores.map((s) => s.attemptToInitialize()));
        expect(won.filter((w) => w)).toHaveLength(1);
        const winner = stores[won.indexOf(true)]!;
        const c1 = await winner.loadCluster();
        expect(c1.initialize?.value).toBe('');
        expect(isInitialized(c1)).toBe(false);
        expect(await winner.setInitialize('7268616322854375442', c1.initialize!.version)).toBe(true);
        expect(await winner.setInitialize('1111111111111111111', c1.initialize!.version)).toBe(false);
        const c2 = await winner.loadCluster();
        expect(c2.initialize?.value).toBe('7268616322854375442');
        expect(isInitialized(c2)).toBe(true);
        expect(await winner.cancelInitialization()).toBe(true);
        expect((await winner.loadCluster()).initialize).toBeNull();
        expect(await winner.setInitialize('7268616322854375442', null)).toBe(true);
      });

      it('writes config, failover, sync, history, status and failsafe and reads them back', async () => {
        const scope = randomScope();
        const s = await store(scope, 'pg0');
        expect(await s.setConfig({ ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100 } } }, null)).toBe(true);
        expect(await s.setConfig({ ttl: 20 }, null)).toBe(false);
        let c = await s.loadCluster();
        expect(c.config?.value).toEqual({ ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100 } } });
        expect(await s.setConfig({ ttl: 40 }, c.config!.version)).toBe(true);
        expect(await s.setConfig({ ttl: 50 }, c.config!.version)).toBe(false);
        expect(await s.setConfig({ ttl: 60 })).toBe(true);

        expect(await s.setFailover({ leader: 'pg0', member: 'pg1', scheduled_at: '2024-05-01T10:00:00+00:00' })).toBe(true);
        expect(await s.setSync({ leader: 'pg0', sync_standby: ['pg2', 'pg1'], quorum: 0 }, null)).toBe(true);
        expect(await s.setHistory([{ timeline: 1, lsn: 67108960, reason: 'no recovery target specified', timestamp: '2024-05-01T10:00:00.000000+00:00', new_leader: 'pg1' }])).toBe(true);
        expect(await s.setStatus({ optime: 67108960, slots: {}, retain_slots: [] })).toBe(true);
        expect(await s.setFailsafe({ pg0: 'http://127.0.0.1:8008/patroni' })).toBe(true);
        c = await s.loadCluster();
        expect(c.warnings).toEqual([]);
        expect(c.config?.value).toEqual({ ttl: 60 });
        expect(c.failover?.value).toEqual({ leader: 'pg0', member: 'pg1', scheduled_at: '2024-05-01T10:00:00+00:00' });
        expect(c.sync?.value).toEqual({ leader: 'pg0', sync_standby: ['pg1', 'pg2'], quorum: 0 });
        expect(c.history?.value).toEqual([{ timeline: 1, lsn: 67108960, reason: 'no recovery target specified', timestamp: '2024-05-01T10:00:00.000000+00:00', new_leader: 'pg1' }]);
        expect(c.status?.value).toEqual({ optime: 67108960, slots: {}, retain_slots: [] });
        expect(c.failsafe?.value).toEqual({ pg0: 'http://127.0.0.1:8008/patroni' });

        expect(await s.clearFailover(c.failover!.version)).toBe(true);
        expect(await s.deleteSync(c.sync!.version)).toBe(true);
        expect(await s.setFailsafe(null)).toBe(true);
        c = await s.loadCluster();
        expect(c.failover).toBeNull();
        expect(c.sync).toBeNull();
        expect(c.failsafe).toBeNull();
        expect(c.warnings).toEqual([]);
      });

      it('reads a member written by Patroni 3.0.2 and reports malformed values as warnings', async () => {
        const scope = randomScope();
        const patroni = await make({ scope, name: 'patroni-node' });
        await patroni.touchMember(
          '{"conn_url":"postgres://10.0.0.5:5432/postgres","api_url":"http://10.0.0.5:8008/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":50331808,"timeline":2,"tags":{"nofailover":false}}',
        );
        expect(await patroni.acquireLeader()).toBe(true);
        expect(await patroni.write('config', 'not json', { kind: 'any' })).toBe(true);
        const s = await store(scope, 'pg0');
        const c = await eventually(async () => {
          const x = await s.loadCluster();
          expect(x.members).toHaveLength(1);
          return x;
        }, 'Patroni member visible');
        expect(c.leader?.name).toBe('patroni-node');
        expect(c.members[0]!.data).toMatchObject({ role: 'primary', state: 'running', xlog_location: 50331808, timeline: 2, tags: { nofailover: false } });
        expect(c.config).toBeNull();
        expect(c.warnings.some((w) => w.includes('config'))).toBe(true);
      });

      it('deletes the cluster through the store', async () => {
        const s = await store(randomScope(), 'pg0');
        expect(await s.acquireLeader()).toBe(true);
        expect(await s.attemptToInitialize()).toBe(true);
        await s.deleteCluster();
        const c = await s.loadCluster();
        expect(c.leader).toBeNull();
        expect(c.initialize).toBeNull();
      });
    });
  });
}
