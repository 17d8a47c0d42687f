// Faults on a three-member etcd cluster: a member down or frozen must not stop the driver, and
// a cluster without quorum must be reported unavailable rather than answered from a minority.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isDcsError, type DcsDriver, type WatchEvent } from '@pgha/dcs';
import { startEtcd, waitFor, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

let etcd: EtcdCluster;
const opened: DcsDriver[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
});

afterEach(async () => {
  for (let i = 0; i < 3; i++) etcd.thaw(i);
  for (let i = 0; i < 3; i++) if (!etcd.members[i]!.process) await etcd.startMember(i);
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
});

afterAll(async () => {
  await etcd?.stop();
});

async function make(scope: string, name: string, retryTimeout = 6): Promise<DcsDriver> {
  // The driver starts with the first endpoint, so member 0 is the one the tests take away.
  const d = await createDriver(driverOptions(etcd.endpoints, { scope, name, retryTimeout }));
  opened.push(d);
  return d;
}

async function exerciseEveryCall(d: DcsDriver, other: DcsDriver): Promise<void> {
  expect(await d.acquireLeader()).toBe(true);
  expect(await d.renewLeader()).toBe(true);
  await d.touchMember('{"state":"running"}');
  expect(await d.write('config', '{"ttl":30}', { kind: 'absent' })).toBe(true);
  expect(await other.acquireLeader()).toBe(false);
  const c = await d.load();
  expect(c.nodes.get('leader')?.value).toBe('pg0');
  expect(c.nodes.get('members/pg0')?.value).toBe('{"state":"running"}');
  expect(c.nodes.get('config')?.value).toBe('{"ttl":30}');
  expect(await d.releaseLeader()).toBe(true);
  expect(await other.acquireLeader()).toBe(true);
}

describe('three-member cluster with one member unavailable', () => {
  it('keeps working with the first endpoint stopped', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0');
    const other = await make(scope, 'pg1');
    await etcd.stopMember(0);
    await exerciseEveryCall(d, other);
  });

  it('keeps working with the first endpoint frozen (SIGSTOP)', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0');
    const other = await make(scope, 'pg1');
    expect((await d.load()).nodes.size).toBe(0);
    etcd.freeze(0);
    await exerciseEveryCall(d, other);
  });

  it('moves the watch to another member when its member stops', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0');
    const writer = await make(scope, 'pg1');
    const events: WatchEvent[] = [];
    const stop = d.watch((e) => events.push(e));
    await d.load();
    await new Promise((r) => setTimeout(r, 300));
    await etcd.stopMember(0);
    const mark = events.length;
    expect(await writer.write('config', '{"v":1}', { kind: 'any' })).toBe(true);
    await waitFor('a config event after the watched member stopped', async () => events.slice(mark).some((e) => e.key === 'config'), 20_000, 25);
    stop();
  });
});

describe('three-member cluster without quorum', () => {
  it('rejects reads and writes with DCS_UNAVAILABLE instead of answering from a minority', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', 2);
    expect(await d.write('config', '{}', { kind: 'any' })).toBe(true);
    etcd.freeze(1);
    etcd.freeze(2);
    for (const [what, call] of [
      ['load', () => d.load()],
      ['write', () => d.write('config', '{"v":2}', { kind: 'any' })],
    ] as const) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(isDcsError(error, 'DCS_UNAVAILABLE'), `${what}: ${String(error)}`).toBe(true);
    }
  });
});
