/**
 * Conformance: compare-and-set on the persistent keys (initialize, config, failover, sync,
 * history, status, failsafe): `absent`, `version` and `any` writes and removes.
 */
import { describe, expect, it } from 'vitest';
import { keysOf, randomScope, STORED_KEYS, valueOf, type ContractContext } from './context.js';

export function describeStoredKeysContract(ctx: ContractContext): void {
  const { make, eventuallyLoad } = ctx;
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
}
