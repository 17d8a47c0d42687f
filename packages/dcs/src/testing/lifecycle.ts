/** Conformance: changing the timing (a new ttl) and closing the driver. */
import { describe, expect, it } from 'vitest';
import { expectClosed, randomScope, valueOf, type ContractContext } from './context.js';

export function describeTimingContract(ctx: ContractContext): void {
  const { make } = ctx;
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
}

export function describeCloseContract(ctx: ContractContext): void {
  const { make } = ctx;
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
}
