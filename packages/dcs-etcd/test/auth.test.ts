// etcd with authentication enabled: username/password from the etcd3 section work, and a wrong
// password or a missing permission is DCS_REJECTED (not retried as if etcd were down).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDcsError, type DcsDriver } from '@pgha/dcs';
import { startEtcd, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

let etcd: EtcdCluster;
const opened: DcsDriver[] = [];
const root = ['--user=root:root-secret'];

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  await etcd.etcdctl(['user', 'add', 'root:root-secret']);
  await etcd.etcdctl(['user', 'add', 'patroni:patroni-secret']);
  await etcd.etcdctl(['role', 'add', 'patroni']);
  await etcd.etcdctl(['role', 'grant-permission', 'patroni', '--prefix=true', 'readwrite', '/service/']);
  await etcd.etcdctl(['user', 'grant-role', 'patroni', 'patroni']);
  await etcd.etcdctl(['auth', 'enable']);
});

afterAll(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
  await etcd?.stop();
});

async function make(section: Record<string, unknown>, namespace = '/service'): Promise<DcsDriver> {
  const hosts = etcd.endpoints.map((e) => e.replace('http://', ''));
  const d = await createDriver(driverOptions(etcd.endpoints, { scope: randomScope(), name: 'pg0', namespace, section: { hosts, ...section } }));
  opened.push(d);
  return d;
}

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => null, (e: unknown) => e);
}

describe('etcd with authentication', () => {
  it('works with the username and password of the section', async () => {
    const d = await make({ username: 'patroni', password: 'patroni-secret' });
    await d.touchMember('{"state":"running"}');
    expect(await d.acquireLeader()).toBe(true);
    expect(await d.renewLeader()).toBe(true);
    expect(await d.write('config', '{}', { kind: 'absent' })).toBe(true);
    expect([...(await d.load()).nodes.keys()].sort()).toEqual(['config', 'leader', 'members/pg0']);
    expect(await etcd.etcdctl([...root, 'get', '--prefix', '--keys-only', d.prefix])).toContain(`${d.prefix}leader`);
  });

  it('rejects a wrong password with DCS_REJECTED', async () => {
    const d = await make({ username: 'patroni', password: 'wrong' });
    const error = await rejection(() => d.load());
    expect(isDcsError(error, 'DCS_REJECTED'), String(error)).toBe(true);
  });

  it('rejects a call outside the granted prefix with DCS_REJECTED', async () => {
    const d = await make({ username: 'patroni', password: 'patroni-secret' }, '/elsewhere');
    const error = await rejection(() => d.write('config', '{}', { kind: 'any' }));
    expect(isDcsError(error, 'DCS_REJECTED'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/^etcd3: write config refused by http:\/\/127\.0\.0\.1:\d+: .*permission denied/);
  });

  it('rejects calls without credentials with DCS_REJECTED', async () => {
    const d = await make({});
    const error = await rejection(() => d.write('config', '{}', { kind: 'any' }));
    expect(isDcsError(error, 'DCS_REJECTED'), String(error)).toBe(true);
  });
});
