/** Conformance: what a load returns, and deleteCluster, which empties exactly one scope. */
import { describe, expect, it } from 'vitest';
import { keysOf, randomScope, valueOf, type ContractContext } from './context.js';

export function describeLoadContract(ctx: ContractContext): void {
  const { make } = ctx;
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
}

export function describeDeleteClusterContract(ctx: ContractContext): void {
  const { make } = ctx;
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
}
