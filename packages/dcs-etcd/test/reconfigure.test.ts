// A reload that changes etcd3.hosts: the driver moves to the new endpoints in place, keeping its
// lease (the lock and the member key carry on) and its watch, on a real three-member etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDcsError, type DcsDriver, type WatchEvent } from '@pgha/dcs';
import { startEtcd, waitFor, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { planEndpointChange } from '../src/reconfigure.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

let etcd: EtcdCluster;
const hostOf = (url: string) => url.replace(/^http:\/\//, '');

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
});

afterAll(async () => {
  await etcd?.stop();
});

describe('etcd3.hosts changed by a reload', () => {
  it('moves to the new endpoints with the same lease, lock, member key and watch', async () => {
    const scope = randomScope();
    const [e0, e1, e2] = etcd.endpoints as [string, string, string];
    const d: DcsDriver = await createDriver(driverOptions([e0], { scope, name: 'pg0' }));
    const other: DcsDriver = await createDriver(driverOptions([e1], { scope, name: 'pg1' }));
    try {
      expect(await d.acquireLeader()).toBe(true);
      await d.touchMember('{"state":"running"}');
      const events: WatchEvent[] = [];
      d.watch((e) => events.push(e));
      const ownerBefore = (await d.load()).nodes.get('leader')!.owner;

      const change = await d.reconfigure!({ hosts: [hostOf(e1), hostOf(e2)] });
      expect(change).toEqual({ applied: [`etcd3 endpoints: ${e0} → ${e1},${e2}`], restartRequired: [] });
      // The old endpoint goes away: every call and the watch must be on the new ones now.
      await etcd.stopMember(0);
      expect(await d.renewLeader()).toBe(true);
      const after = await d.load();
      expect(after.nodes.get('leader')?.owner).toBe(ownerBefore);
      expect(after.nodes.get('members/pg0')?.value).toBe('{"state":"running"}');
      await other.touchMember('{"state":"streaming"}');
      await waitFor('the watch event through the new endpoints', async () => events.some((e) => e.key === 'members/pg1'), 20_000);
      expect(events.some((e) => e.key === 'members/pg1')).toBe(true);
    } finally {
      await etcd.startMember(0);
      await d.close({ revoke: true });
      await other.close({ revoke: true });
    }
  });

  it('an invalid section changes nothing and says which key', async () => {
    const d: DcsDriver = await createDriver(driverOptions([etcd.endpoints[0]!], { scope: randomScope(), name: 'pg0' }));
    try {
      const refused = await d.reconfigure!({ hosts: ['no-port-here:'] }).catch((e: unknown) => e);
      expect(isDcsError(refused) && refused.code).toBe('DCS_CONFIG');
      expect((refused as Error).message).toMatch(/^etcd3\.hosts\[0\]: /);
      expect(await d.acquireLeader()).toBe(true);
    } finally {
      await d.close({ revoke: true });
    }
  });
});

describe('planEndpointChange', () => {
  const base = { endpoints: ['http://a:2379'] };
  it('changes endpoints in place; TLS or credentials need a restart', () => {
    expect(planEndpointChange(base, { endpoints: ['http://a:2379', 'http://b:2379'] })).toEqual({ endpoints: ['http://a:2379', 'http://b:2379'], restartRequired: [] });
    expect(planEndpointChange(base, base)).toEqual({ endpoints: null, restartRequired: [] });
    const auth = planEndpointChange(base, { endpoints: ['http://b:2379'], auth: { username: 'u', password: 'p' } });
    expect(auth.endpoints).toBeNull();
    expect(auth.restartRequired).toEqual(['etcd3 username / password: the session authenticated with them at the start']);
    const tls = planEndpointChange(base, { endpoints: ['https://a:2379'], credentials: { rootCertificate: Buffer.from('x') } });
    expect(tls.restartRequired[0]).toMatch(/^etcd3 TLS/);
  });
});
