/**
 * Conformance cases for two drivers with the same member name (two agents started from one
 * copied YAML; pgha issue 15): neither may take the other's leader or member key, because each
 * renewal moving the lock onto the caller's session makes two primaries. Part of
 * `describeDriverConformance`.
 */
import { describe, expect, it } from 'vitest';
import type { DcsDriver, RawCluster } from '../driver.js';
import { DcsErrorCode, isDcsError } from '../errors.js';
import type { MakeDriverOptions } from './context.js';

export interface SameNameContext {
  make(o: MakeDriverOptions): Promise<DcsDriver>;
  randomScope(): string;
  eventuallyLoad(driver: DcsDriver, what: string, check: (c: RawCluster) => void): Promise<RawCluster>;
}

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  return undefined;
}

export function describeSameNameContract(ctx: SameNameContext): void {
  describe('two drivers with the same name', () => {
    it("never take each other's leader or member key, and tell their own sessions from the other's", async () => {
      const scope = ctx.randomScope();
      const first = await ctx.make({ scope, name: 'pg0' });
      const second = await ctx.make({ scope, name: 'pg0' });
      await first.touchMember('{"who":"first"}');
      expect(await first.acquireLeader()).toBe(true);
      const seen = await ctx.eventuallyLoad(second, 'the first driver keys visible to the second', (c) => {
        expect(c.nodes.get('leader')?.value).toBe('pg0');
        expect(c.nodes.get('members/pg0')?.value).toBe('{"who":"first"}');
      });
      const leader = seen.nodes.get('leader');
      const member = seen.nodes.get('members/pg0');
      for (const owner of [leader?.owner, member?.owner]) {
        if (owner === undefined) continue;
        expect(first.ownsSession(owner)).toBe(true);
        expect(second.ownsSession(owner)).toBe(false);
      }

      expect(await second.acquireLeader()).toBe(false);
      expect(await second.renewLeader()).toBe(false);
      expect(await second.releaseLeader()).toBe(false);
      const refused = await rejection(() => second.touchMember('{"who":"second"}'));
      expect(isDcsError(refused, DcsErrorCode.Conflict), `touchMember over a live same-named key should reject DCS_CONFLICT, got ${String(refused)}`).toBe(true);

      const after = await first.load();
      expect(after.nodes.get('leader')).toEqual(leader);
      expect(after.nodes.get('members/pg0')).toEqual(member);
      expect(await first.renewLeader()).toBe(true);
      expect((await first.load()).nodes.get('leader')?.owner).toBe(leader?.owner);
    });

    it('move the keys of an adopted session (our own previous run) onto their own, and only those', async () => {
      const scope = ctx.randomScope();
      const first = await ctx.make({ scope, name: 'pg0' });
      const second = await ctx.make({ scope, name: 'pg0' });
      await first.touchMember('{"who":"first"}');
      expect(await first.acquireLeader()).toBe(true);
      const seen = await ctx.eventuallyLoad(second, 'the first driver keys visible to the second', (c) => expect(c.nodes.get('leader')?.value).toBe('pg0'));
      const owner = seen.nodes.get('leader')?.owner;
      if (owner === undefined) return;
      second.adoptSession(owner);
      expect(second.ownsSession(owner)).toBe(true);
      expect(await second.renewLeader()).toBe(true);
      await second.touchMember('{"who":"second"}');
      const c = await second.load();
      const moved = c.nodes.get('leader')?.owner;
      expect(moved !== undefined && moved !== owner && second.ownsSession(moved)).toBe(true);
      expect(c.nodes.get('members/pg0')?.value).toBe('{"who":"second"}');
    });

    it("take the name over once the other driver's session has ended", async () => {
      const scope = ctx.randomScope();
      const first = await ctx.make({ scope, name: 'pg0' });
      const second = await ctx.make({ scope, name: 'pg0' });
      await first.touchMember('{"who":"first"}');
      expect(await first.acquireLeader()).toBe(true);
      await first.close({ revoke: true });
      await ctx.eventuallyLoad(second, 'the first driver keys gone', (c) => expect([...c.nodes.keys()]).toEqual([]));
      await second.touchMember('{"who":"second"}');
      expect(await second.acquireLeader()).toBe(true);
      expect(await second.renewLeader()).toBe(true);
      const c = await second.load();
      expect(c.nodes.get('members/pg0')?.value).toBe('{"who":"second"}');
      const owner = c.nodes.get('leader')?.owner;
      if (owner !== undefined) expect(second.ownsSession(owner)).toBe(true);
    });
  });
}
