/**
 * Conformance: the parts of `ClusterStore` that depend on the driver, with Patroni's JSON for
 * members, status, config, failover, sync, history and failsafe.
 */
import { describe, expect, it } from 'vitest';
import { createClusterStore } from '../cluster-store.js';
import { silentLogger } from '../logger.js';
import { isInitialized } from '../model.js';
import type { ClusterStore } from '../store.js';
import { memberData, randomScope, type ContractContext } from './context.js';

export function describeClusterStoreContract(ctx: ContractContext): void {
  const { make, eventually } = ctx;
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

    it('follows a per-write compatibility over its own, and rewrites the key when only the spelling changed', async () => {
      const s = await store(randomScope(), 'pg0');
      const data = memberData({ role: 'primary' });
      const role = async () => JSON.parse((await s.driver.load()).nodes.get('members/pg0')!.value).role as string;
      await s.touchMember(data);
      expect(await role()).toBe('master');
      await s.touchMember(data, { compatibility: { legacyPrimaryRole: false } });
      expect(await role()).toBe('primary');
      await s.touchMember(data, { compatibility: { legacyPrimaryRole: true } });
      expect(await role()).toBe('master');
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
}
