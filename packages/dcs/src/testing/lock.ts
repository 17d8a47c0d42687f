/** Conformance: the leader lock (acquire, renew, release, revoke on close) and the session hold it gives. */
import { describe, expect, it } from 'vitest';
import { keysOf, randomScope, sleep, valueOf, type ContractContext } from './context.js';

export function describeLeaderLockContract(ctx: ContractContext): void {
  const { make, eventuallyLoad, propagationMs } = ctx;
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
}

export function describeSessionHoldContract(ctx: ContractContext): void {
  const { make, clock } = ctx;
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
}
