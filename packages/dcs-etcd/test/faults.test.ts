// Faults on a single etcd server: frozen (SIGSTOP), killed and restarted, lease revoked and keys
// deleted behind the driver's back. One server for the file; each test uses its own scope.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DcsErrorCode, isDcsError, type DcsDriver, type WatchEvent } from '@pgha/dcs';
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

/** Runs `call`, expecting DCS_UNAVAILABLE; resolves with how long it took in ms. */
async function expectUnavailable(what: string, call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let error: unknown;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  const elapsed = performance.now() - start;
  expect(isDcsError(error, 'DCS_UNAVAILABLE'), `${what} should reject DCS_UNAVAILABLE, got ${String(error)}`).toBe(true);
  return elapsed;
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

describe('etcd frozen (SIGSTOP)', () => {
  it('rejects every call with DCS_UNAVAILABLE within its deadline and does not extend the hold', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', { ttl: 10, retryTimeout: 2 });
    await d.touchMember('{"state":"running"}');
    expect(await d.acquireLeader()).toBe(true);
    const held = d.hold().validUntil;
    expect(held).not.toBeNull();

    etcd.freeze(0);
    // Default deadline (retryTimeout 2 s) and an explicit shorter one; the bound is generous:
    // it only has to tell "gave up at its deadline" from "hangs". (No releaseLeader here: a
    // request that timed out is still in the frozen server's socket and applies after SIGCONT.)
    const calls: [string, () => Promise<unknown>, number][] = [
      ['load', () => d.load(), 2000],
      ['renewLeader', () => d.renewLeader(), 2000],
      ['write', () => d.write('config', '{}', { kind: 'any' }), 2000],
      ['touchMember', () => d.touchMember('{"state":"stopped"}', { timeoutMs: 1000 }), 1000],
      ['acquireLeader', () => d.acquireLeader({ timeoutMs: 1000 }), 1000],
      ['remove', () => d.remove('sync', { kind: 'any' }, { timeoutMs: 1000 }), 1000],
    ];
    const elapsed = await Promise.all(calls.map(([what, call]) => expectUnavailable(what, call)));
    calls.forEach(([what, , deadline], i) => {
      expect(elapsed[i], `${what} took ${elapsed[i]} ms with a ${deadline} ms deadline`).toBeLessThan(deadline + 3000);
    });
    expect(d.hold().validUntil).toBe(held);

    etcd.thaw(0);
    // The frozen time was shorter than the ttl: the same lease and lock are still ours.
    expect(await d.renewLeader()).toBe(true);
    expect(d.hold().validUntil!).toBeGreaterThan(held!);
    expect((await d.load()).nodes.get('leader')?.value).toBe('pg0');
  });
});

describe('etcd killed and restarted with the same data', () => {
  it('recovers without recreating the driver: renew works again and the watch resumes', async () => {
    const scope = randomScope();
    const d = await make(scope, 'pg0', { ttl: 20, retryTimeout: 3 });
    await d.touchMember('{"state":"running"}');
    expect(await d.acquireLeader()).toBe(true);
    const rec = recordEvents(d);
    const writer = await make(scope, 'pg1', { retryTimeout: 3 });
    let mark = rec.events.length;
    expect(await writer.write('config', '{"v":1}', { kind: 'any' })).toBe(true);
    await rec.waitFor('config', mark);

    await etcd.stopMember(0, { kill: true });
    await expectUnavailable('renewLeader while etcd is down', () => d.renewLeader({ timeoutMs: 1000 }));
    await etcd.startMember(0);

    // No breaker lockout: the first call after the restart succeeds on the same driver.
    expect(await d.renewLeader()).toBe(true);
    const c = await d.load();
    expect(c.nodes.get('leader')?.value).toBe('pg0');
    expect(c.nodes.get('members/pg0')?.value).toBe('{"state":"running"}');

    mark = rec.events.length;
    expect(await writer.write('config', '{"v":2}', { kind: 'any' })).toBe(true);
    await rec.waitFor('config', mark);
    rec.stop();
  });
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
  it('flag the creation of a key (a member joining), not its later writes; a key put again after a delete is created again', async () => {
    const scope = randomScope();
    const watcher = await make(scope, 'pg0');
    const joining = await make(scope, 'pg1');
    const rec = recordEvents(watcher);
    await watcher.load();
    const member = (from: number) => rec.events.slice(from).filter((e) => e.key === 'members/pg1');

    let mark = rec.events.length;
    await joining.touchMember('{"state":"starting"}');
    await rec.waitFor('members/pg1', mark);
    expect(member(mark)).toEqual([{ key: 'members/pg1', created: true }]);

    mark = rec.events.length;
    await joining.touchMember('{"state":"running"}');
    await rec.waitFor('members/pg1', mark);
    expect(member(mark)).toEqual([{ key: 'members/pg1' }]);

    mark = rec.events.length;
    expect(await joining.deleteMember('pg1')).toBe(true);
    await rec.waitFor('members/pg1', mark);
    expect(member(mark)).toEqual([{ key: 'members/pg1' }]);
    mark = rec.events.length;
    await joining.touchMember('{"state":"running"}');
    await rec.waitFor('members/pg1', mark);
    expect(member(mark)).toEqual([{ key: 'members/pg1', created: true }]);
    rec.stop();
  });
});
