// Drivers on one shared set of etcd clients (the scale bench's mode, see src/shared.ts): each
// keeps its own lease, and closing one leaves the clients open for the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDcsError } from '@pgha/dcs';
import { startEtcd, type EtcdCluster } from '@pgha/test-servers';
import { createSharedClients } from '../src/index.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
});

afterAll(async () => {
  await etcd?.stop();
});

describe('shared etcd clients', () => {
  it('gives each driver its own lease, and survives one driver closing', async () => {
    const section = { hosts: etcd.endpoints.map((e) => e.replace(/^http:\/\//, '')) };
    const shared = await createSharedClients(section, 3000);
    const scope = randomScope('shared');
    const a = await shared.createDriver(driverOptions(etcd.endpoints, { scope, name: 'a' }));
    const b = await shared.createDriver(driverOptions(etcd.endpoints, { scope, name: 'b' }));
    try {
      expect(await a.acquireLeader()).toBe(true);
      expect(await b.acquireLeader()).toBe(false);
      expect((await b.load()).nodes.get('leader')?.value).toBe('a');
      // a's lease ends with it (its leader key goes), and b's calls still have their connections.
      await a.close({ revoke: true });
      expect((await b.load()).nodes.has('leader')).toBe(false);
      expect(await b.acquireLeader()).toBe(true);
      expect(await b.renewLeader()).toBe(true);
    } finally {
      await a.close();
      await b.close({ revoke: true });
      shared.close();
    }
  });

  it('refuses a driver whose hosts are not the shared clients', async () => {
    const shared = await createSharedClients({ hosts: ['127.0.0.1:1'] }, 3000);
    try {
      const made = shared.createDriver(driverOptions(etcd.endpoints, { scope: randomScope('shared'), name: 'a' }));
      await expect(made).rejects.toSatisfy((e: unknown) => isDcsError(e) && e.code === 'DCS_CONFIG');
    } finally {
      shared.close();
    }
  });
});
