/** Conformance: member keys, written by their own driver and deleted by any. */
import { describe, expect, it } from 'vitest';
import { keysOf, randomScope, valueOf, type ContractContext } from './context.js';

export function describeMemberKeysContract(ctx: ContractContext): void {
  const { make, eventuallyLoad } = ctx;
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
}
