// Faults on a single etcd server: the shared fault cases (frozen, killed and restarted, watches),
// then etcd's own: lease revoked and keys changed behind the driver's back. One server for the
// file; each test uses its own scope.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DcsErrorCode, isDcsError, type DcsDriver, type WatchEvent } from '@pgha/dcs';
import { describeDriverFaults } from '@pgha/dcs/testing';
import { startEtcd, waitFor, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

let etcd: EtcdCluster;
const opened: DcsDriver[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
});

afterEach(async () => {
  etcd.thaw(0);
  if (!etcd.members[0]!.process) await etcd.startMember(0);
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
});

afterAll(async () => {
  await etcd?.stop();
});

async function make(scope: string, name: string, o: { ttl?: number; retryTimeout?: number; loopWait?: number } = {}): Promise<DcsDriver> {
  const d = await createDriver(driverOptions(etcd.endpoints, { scope, name, ...o }));
  opened.push(d);
  return d;
}

function recordEvents(d: DcsDriver): { events: WatchEvent[]; stop: () => void; waitFor(key: string, from: number): Promise<void> } {
  const events: WatchEvent[] = [];
  const stop = d.watch((e) => events.push(e));
  return {
    events,
    stop,
    waitFor: (key, from) => waitFor(`a watch event for '${key}'`, async () => events.slice(from).some((e) => e.key === key), 20_000, 25),
  };
}

/** etcdctl names leases in hex; the driver reports them in decimal, as etcd's API does. */
const hexLease = (id: string) => BigInt(id).toString(16);

describeDriverFaults({
  name: 'etcd3, one server',
  makeDriver: async (o) => createDriver(driverOptions(etcd.endpoints, o)),
  freeze: () => etcd.freeze(0),
  thaw: () => etcd.thaw(0),
  stop: () => etcd.stopMember(0, { kill: true }),
  start: () => etcd.startMember(0),
  recover: async () => {
    etcd.thaw(0);
    if (!etcd.members[0]!.process) await etcd.startMember(0);
  },
  // A watch resumes after the newest revision the driver had seen when it was opened; one opened
  // before any call starts wherever the server is when its stream is created, a round trip
  // later. As in the conformance suite, give that round trip time.
  watchesReady: async (d) => {
    await d.load();
    await new Promise((resolve) => setTimeout(resolve, 200));
  },
  // After a restart the watch stream is re-opened with backoff.
  propagationTimeoutMs: 20_000,
});

describe('lease revoked externally', () => {
  it('renew reports the lock lost, a new lease is granted and the member key rewritten on it', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', { ttl: 10 });
    await d.touchMember('{"state":"running"}');
    expect(await d.acquireLeader()).toBe(true);
    const before = await d.load();
    const oldLease = before.nodes.get('leader')!.owner!;
    expect(before.nodes.get('members/pg0')?.owner).toBe(oldLease);

    await etcd.etcdctl(['lease', 'revoke', hexLease(oldLease)]);
    expect((await d.load()).nodes.size).toBe(0);

    expect(await d.renewLeader()).toBe(false);
    const after = await d.load();
    expect(after.nodes.has('leader')).toBe(false);
    const member = after.nodes.get('members/pg0');
    expect(member?.value).toBe('{"state":"running"}');
    expect(member?.owner).toBeDefined();
    expect(member?.owner).not.toBe(oldLease);
    expect(d.hold().validUntil).not.toBeNull();
    // The lock can be taken again, on the new lease.
    expect(await d.acquireLeader()).toBe(true);
    expect((await d.load()).nodes.get('leader')?.owner).toBe(member?.owner);
  });

  it('touchMember after a revoke grants a new lease and rewrites the key', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', { ttl: 10 });
    await d.touchMember('{"v":1}');
    const oldLease = (await d.load()).nodes.get('members/pg0')!.owner!;
    await etcd.etcdctl(['lease', 'revoke', hexLease(oldLease)]);
    await d.touchMember('{"v":2}');
    const member = (await d.load()).nodes.get('members/pg0');
    expect(member?.value).toBe('{"v":2}');
    expect(member?.owner).not.toBe(oldLease);
    const ttl = await etcd.etcdctl(['lease', 'timetolive', hexLease(member!.owner!)]);
    expect(ttl).toMatch(/granted with TTL\(10s\)/);
  });
});

describe('keys changed behind the driver', () => {
  it('wakes the watch when the leader key is deleted externally, and renew reports the loss', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0');
    expect(await d.acquireLeader()).toBe(true);
    const rec = recordEvents(d);
    await d.load();
    await new Promise((r) => setTimeout(r, 200));
    const mark = rec.events.length;
    await etcd.etcdctl(['del', `/service/${scope}/leader`]);
    await rec.waitFor('leader', mark);
    expect(await d.renewLeader()).toBe(false);
    rec.stop();
  });

  /** A lease granted by etcdctl, as the decimal id the driver reports (etcdctl speaks hex). */
  async function grantLease(): Promise<string> {
    const grant = await etcd.etcdctl(['lease', 'grant', '30']);
    return BigInt(`0x${/lease ([0-9a-f]+) granted/.exec(grant)![1]!}`).toString();
  }
  const hex = (id: string) => BigInt(id).toString(16);

  it('renew re-attaches a leader key naming us on an earlier lease of ours or on none, never one on a lease that is not ours', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', { ttl: 10 });
    await d.touchMember('{}');
    const first = (await d.load()).nodes.get('members/pg0')!.owner!;
    // As after a lease change: a new lease is ours while the key is left on the earlier one (still alive).
    await d.setTiming({ ttl: 16, loopWait: 1, retryTimeout: 3 });
    const current = (await d.load()).nodes.get('members/pg0')!.owner!;
    expect(current).not.toBe(first);
    await etcd.etcdctl(['put', `/service/${scope}/leader`, 'pg0', `--lease=${hex(first)}`]);
    expect(await d.renewLeader()).toBe(true);
    expect((await d.load()).nodes.get('leader')?.owner).toBe(current);
    // A key on no lease is nobody's session: re-attached too.
    await etcd.etcdctl(['put', `/service/${scope}/leader`, 'pg0']);
    expect(await d.renewLeader()).toBe(true);
    expect((await d.load()).nodes.get('leader')?.owner).toBe(current);
    // A lease we were never granted is another live client's, e.g. an agent started with our name
    // (pgha issue 15): renewing, releasing and touching the member key leave its keys alone.
    const foreign = await grantLease();
    await etcd.etcdctl(['put', `/service/${scope}/leader`, 'pg0', `--lease=${hex(foreign)}`]);
    expect(await d.renewLeader()).toBe(false);
    expect(await d.releaseLeader()).toBe(false);
    expect((await d.load()).nodes.get('leader')).toMatchObject({ value: 'pg0', owner: foreign });
    // A key naming someone else is never taken over.
    await etcd.etcdctl(['put', `/service/${scope}/leader`, 'pg9', `--lease=${hex(first)}`]);
    expect(await d.renewLeader()).toBe(false);
    expect((await d.load()).nodes.get('leader')?.value).toBe('pg9');
  });

  it('touchMember leaves a member key of our name on a lease that is not ours alone, rejecting DCS_CONFLICT', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0');
    const foreign = await grantLease();
    await etcd.etcdctl(['put', `/service/${scope}/members/pg0`, '{"other":true}', `--lease=${hex(foreign)}`]);
    const error = await d.touchMember('{}').then(
      () => null,
      (e: unknown) => e,
    );
    expect(isDcsError(error, DcsErrorCode.Conflict), String(error)).toBe(true);
    expect((await d.load()).nodes.get('members/pg0')).toMatchObject({ value: '{"other":true}', owner: foreign });
    await etcd.etcdctl(['lease', 'revoke', hex(foreign)]);
    await d.touchMember('{}');
    expect(d.ownsSession((await d.load()).nodes.get('members/pg0')!.owner!)).toBe(true);
  });

  it('moves the leader and member keys to a lease of the new ttl on setTiming', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', { ttl: 10 });
    await d.touchMember('{}');
    expect(await d.acquireLeader()).toBe(true);
    const oldLease = (await d.load()).nodes.get('leader')!.owner!;
    await d.setTiming({ ttl: 16, loopWait: 1, retryTimeout: 3 });
    const c = await d.load();
    const newLease = c.nodes.get('leader')!.owner!;
    expect(newLease).not.toBe(oldLease);
    expect(c.nodes.get('members/pg0')?.owner).toBe(newLease);
    expect(d.hold().ttl).toBe(16);
    expect(await d.renewLeader()).toBe(true);
    expect(await etcd.etcdctl(['lease', 'timetolive', hexLease(newLease)])).toMatch(/granted with TTL\(16s\)/);
  });
});

describe('watch events', () => {
  // The creation flag itself is in the shared cases; etcd also reports every later write.
  it('report a member key rewritten or deleted as a plain change, without the created flag', async () => {
    const scope = randomScope();
    const watcher = await make(scope, 'pg0');
    const joining = await make(scope, 'pg1');
    await joining.touchMember('{"state":"starting"}');
    const rec = recordEvents(watcher);
    await watcher.load();
    const member = (from: number) => rec.events.slice(from).filter((e) => e.key === 'members/pg1');

    let mark = rec.events.length;
    await joining.touchMember('{"state":"running"}');
    await rec.waitFor('members/pg1', mark);
    expect(member(mark)).toEqual([{ key: 'members/pg1' }]);

    mark = rec.events.length;
    expect(await joining.deleteMember('pg1')).toBe(true);
    await rec.waitFor('members/pg1', mark);
    expect(member(mark)).toEqual([{ key: 'members/pg1' }]);
    rec.stop();
  });
});
