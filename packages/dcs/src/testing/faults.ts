/**
 * The fault cases every driver shares: the store frozen (a hung server), the store stopped and
 * started again with its data, and the watch behaviour the HA loop counts on when several
 * members wait for the lock. A driver package runs it against a real server it controls:
 *
 * ```ts
 * describeDriverFaults({ name: 'etcd3', makeDriver, freeze: () => etcd.freeze(0), ... });
 * ```
 *
 * Cases that depend on how a store keeps sessions (leases revoked, a session process killed, a
 * ZooKeeper ensemble electing a leader) stay in the driver's own tests.
 */
import { describe, expect, it } from 'vitest';
import type { MonotonicClock } from '../clock.js';
import type { DcsDriver } from '../driver.js';
import { DcsErrorCode, isDcsError } from '../errors.js';
import { contractContext, randomScope, type MakeDriverOptions } from './context.js';

export interface FaultTarget {
  /** Label for the describe block. */
  name: string;
  /** As `ConformanceTarget.makeDriver`: every driver of a test talks to the one server the target controls. */
  makeDriver(o: MakeDriverOptions): Promise<DcsDriver>;
  /** Stops the server from answering (SIGSTOP), as a hung server; resolves once it has stopped. */
  freeze(): void | Promise<void>;
  thaw(): void | Promise<void>;
  /** Takes the server down (its connections closed); `start` brings it back with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Undoes whatever fault a test left behind (thaw, start); runs after every test, before its drivers are closed. */
  recover(): Promise<void>;
  /** Resolves once `driver`'s watches are live on the server, so the next change is seen. */
  watchesReady(driver: DcsDriver): Promise<void>;
  /**
   * Resolves once `driver` is connected again after the server came back. Default: at once, for
   * drivers whose calls connect (or fail over) by themselves within their deadline.
   */
  reconnected?(driver: DcsDriver): Promise<void>;
  /**
   * The driver refreshes its session in the background (a heartbeat), so an answer to a request
   * sent just before a freeze may still move the hold; never past the freeze plus ttl. Default
   * false: the hold does not move at all while the server is frozen.
   */
  refreshesInBackground?: boolean;
  /** The clock the drivers were given; default `systemClock`. */
  clock?: MonotonicClock;
  /** Longest wait, in ms, for a change to reach another driver or a watch (also after a restart). Default 10 000. */
  propagationTimeoutMs?: number;
}

/** Runs `call`, which must reject; resolves with its error and how long it took in ms. */
async function rejection(clock: MonotonicClock, call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = clock.now();
  try {
    const value = await call();
    return { error: new Error(`resolved ${String(value)} instead of rejecting`), ms: clock.now() - start };
  } catch (error) {
    return { error, ms: clock.now() - start };
  }
}

export function describeDriverFaults(target: FaultTarget): void {
  describe(`DcsDriver faults: ${target.name}`, () => {
    const ctx = contractContext(target, () => target.recover());
    const { make, clock, recorder, until } = ctx;

    describe('server frozen (SIGSTOP)', () => {
      it('rejects every call with DCS_UNAVAILABLE within its deadline, does not extend the hold, and keeps the lock after the thaw', async () => {
        const scope = randomScope();
        const d = await make({ scope, name: 'pg0', ttl: 10, retryTimeout: 2 });
        await d.touchMember('{"state":"running"}');
        expect(await d.acquireLeader()).toBe(true);
        const held = d.hold().validUntil;
        expect(held).not.toBeNull();

        const frozenAt = clock.now();
        await target.freeze();
        // Default deadline (retryTimeout 2 s) and an explicit shorter one; the bound is generous:
        // it only has to tell "gave up at its deadline" from "hangs". (No releaseLeader here: a
        // request that timed out is still in the frozen server's socket and applies after SIGCONT.)
        const calls: [string, () => Promise<unknown>, number][] = [
          ['load', () => d.load(), 2000],
          ['renewLeader', () => d.renewLeader(), 2000],
          ['write', () => d.write('config', '{}', { kind: 'any' }), 2000],
          ['touchMember', () => d.touchMember('{"state":"stopped"}', { timeoutMs: 1000 }), 1000],
          ['acquireLeader', () => d.acquireLeader({ timeoutMs: 1000 }), 1000],
          ['remove', () => d.remove('sync', { kind: 'any' }, { timeoutMs: 1000 }), 1000],
        ];
        const outcomes = await Promise.all(calls.map(([, call]) => rejection(clock, call)));
        calls.forEach(([what, , deadline], i) => {
          const { error, ms } = outcomes[i]!;
          expect(isDcsError(error, DcsErrorCode.Unavailable), `${what} should reject DCS_UNAVAILABLE, got ${String(error)}`).toBe(true);
          expect(ms, `${what} took ${ms} ms with a ${deadline} ms deadline`).toBeLessThan(deadline + 3000);
        });
        // Nothing sent after the freeze was answered, so nothing moved the hold past what the
        // last answer before it proved.
        const h = d.hold();
        if (target.refreshesInBackground) {
          expect(h.validUntil === null || h.validUntil <= frozenAt + h.ttl * 1000, `hold ${h.validUntil} past freeze ${frozenAt} + ttl ${h.ttl} s`).toBe(true);
        } else {
          expect(h.validUntil).toBe(held);
        }

        await target.thaw();
        await target.reconnected?.(d);
        // The frozen time was shorter than the ttl: the same session and lock are still ours.
        expect(await d.renewLeader()).toBe(true);
        expect(d.hold().validUntil!).toBeGreaterThan(held!);
        expect((await d.load()).nodes.get('leader')?.value).toBe('pg0');
      });
    });

    describe('server stopped and started again with the same data', () => {
      it('recovers on the same driver: the lock renews again, the keys are intact and the watch resumes', async () => {
        const scope = randomScope();
        // A ttl longer than the outage, so the session outlives it (ZooKeeper grants at most its
        // maxSessionTimeout).
        const d = await make({ scope, name: 'pg0', ttl: 20, retryTimeout: 3 });
        await d.touchMember('{"state":"running"}');
        expect(await d.acquireLeader()).toBe(true);
        const rec = recorder(d);
        const writer = await make({ scope, name: 'pg1', retryTimeout: 3 });
        await target.watchesReady(d);
        let mark = rec.events.length;
        expect(await writer.write('config', '{"v":1}', { kind: 'any' })).toBe(true);
        await rec.waitFor('config', mark);

        await target.stop();
        const down = await rejection(clock, () => d.renewLeader({ timeoutMs: 1000 }));
        expect(isDcsError(down.error, DcsErrorCode.Unavailable), `renewLeader while the server is down: ${String(down.error)}`).toBe(true);
        await target.start();
        await target.reconnected?.(d);
        await target.reconnected?.(writer);

        // No lockout after the outage: the first renewal once the driver is connected succeeds.
        expect(await d.renewLeader()).toBe(true);
        const c = await d.load();
        expect(c.nodes.get('leader')?.value).toBe('pg0');
        expect(c.nodes.get('members/pg0')?.value).toBe('{"state":"running"}');

        await target.watchesReady(d);
        mark = rec.events.length;
        expect(await writer.write('config', '{"v":2}', { kind: 'any' })).toBe(true);
        await rec.waitFor('config', mark);
        rec.stop();
      });
    });

    describe('watches', () => {
      it('wakes every waiting candidate when the leader key is released; exactly one of them wins the race', async () => {
        const scope = randomScope();
        const leader = await make({ scope, name: 'pg0' });
        const candidates = await Promise.all(['pg1', 'pg2', 'pg3'].map((name) => make({ scope, name })));
        expect(await leader.acquireLeader()).toBe(true);
        const seen: Array<number | null> = candidates.map(() => null);
        let releasedAt = Number.POSITIVE_INFINITY;
        candidates.forEach((c, i) =>
          c.watch((e) => {
            if (e.key === 'leader' && clock.now() >= releasedAt && seen[i] === null) seen[i] = clock.now();
          }),
        );
        await Promise.all(candidates.map((c) => target.watchesReady(c)));
        releasedAt = clock.now();
        expect(await leader.releaseLeader()).toBe(true);
        await until('every candidate woken', () => seen.every((t) => t !== null), undefined, 1);
        const latencies = seen.map((t) => Math.round((t! - releasedAt) * 10) / 10);
        console.log(`${target.name}: leader release → watch event latency (ms, includes the release round trip): ${latencies.join(', ')}`);
        const results = await Promise.all(candidates.map((c) => c.acquireLeader()));
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('reports a member joining as a created key, not its rewrites; deleted and joining again is created again', async () => {
        const scope = randomScope();
        const w = await make({ scope, name: 'pg0' });
        const joining = await make({ scope, name: 'pg1' });
        const rec = recorder(w);
        // Our own member key exists first: a ZooKeeper watcher lists the members directory only then.
        await w.touchMember('{"state":"running"}');
        await target.watchesReady(w);
        const pg1 = (from: number) => rec.events.slice(from).filter((e) => e.key === 'members/pg1');
        const createdPg1 = (from: number) => pg1(from).filter((e) => e.created === true).length;
        let markers = 0;
        /**
         * A config write by another member, waited for as an event: every event caused by an
         * earlier change has arrived by then (each store delivers a client's events in order),
         * so an event that did not come will not.
         */
        const settled = async (): Promise<void> => {
          const from = rec.events.length;
          expect(await joining.write('config', `{"marker":${markers++}}`, { kind: 'any' })).toBe(true);
          await rec.waitFor('config', from);
          await target.watchesReady(w);
        };

        let mark = rec.events.length;
        await joining.touchMember('{"state":"starting"}');
        await until('pg1 reported created', () => createdPg1(mark) > 0);
        await settled();
        expect(createdPg1(mark)).toBe(1);

        mark = rec.events.length;
        await joining.touchMember('{"state":"running"}');
        await settled();
        expect(pg1(mark).filter((e) => e.created !== undefined)).toEqual([]);

        mark = rec.events.length;
        expect(await joining.deleteMember('pg1')).toBe(true);
        await settled();
        expect(pg1(mark).filter((e) => e.created !== undefined)).toEqual([]);

        mark = rec.events.length;
        await joining.touchMember('{"state":"running"}');
        await until('pg1 reported created again', () => createdPg1(mark) > 0);
        await settled();
        expect(createdPg1(mark)).toBe(1);
        rec.stop();
      });
    });
  });
}
