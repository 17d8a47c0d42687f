// The watch-fed copy behind load() (cluster-cache.ts), against one real ZooKeeper server: it
// follows another client's changes without reading the cluster again, is dropped when the
// connection goes and read in full once it is back, and never answers for a frozen server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DcsErrorCode, isDcsError } from '@pgha/dcs';
import { startZooKeeper, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { createDriver, type ZooKeeperDriver } from '../src/index.js';
import { driverOptions, randomScope, until } from './fixtures/driver-options.js';

let zk: ZooKeeperEnsemble;
const opened: ZooKeeperDriver[] = [];

beforeAll(async () => {
  // tickTime 1000: sessions up to 20 s, longer than the server restart below.
  zk = await startZooKeeper({ members: 1, tickTime: 1000 });
});

afterEach(async () => {
  zk.thaw(0);
  if (!zk.members[0]!.process) await zk.startMember(0);
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
});

afterAll(async () => {
  await zk?.stop();
});

async function make(scope: string, name: string, ttl = 10): Promise<ZooKeeperDriver> {
  const d = (await createDriver(driverOptions(zk.connectString, { scope, name, ttl, retryTimeout: 3 }))) as ZooKeeperDriver;
  opened.push(d);
  return d;
}

const settled = (d: ZooKeeperDriver) => until('the copy current', () => d.inspect().cache.state === 'current' && d.inspect().cache.pending === 0);

describe('watch-fed load', () => {
  it("serves another client's changes in the next load without reading the cluster again", async () => {
    const scope = randomScope();
    const reader = await make(scope, 'pg0');
    const writer = await make(scope, 'pg1');
    await reader.touchMember('{"state":"running"}');
    await reader.load();
    await settled(reader);
    const before = reader.inspect().cache;

    // A new key, a changed key, a new member, the leader: each seen by the very next load.
    expect(await writer.write('config', '{"ttl":10}', { kind: 'absent' })).toBe(true);
    const first = await reader.load();
    expect(first.nodes.get('config')?.value).toBe('{"ttl":10}');
    const version = first.nodes.get('config')!.version;
    expect(await writer.write('config', '{"ttl":12}', { kind: 'version', version })).toBe(true);
    expect((await reader.load()).nodes.get('config')?.value).toBe('{"ttl":12}');
    await writer.touchMember('{"state":"starting"}');
    expect((await reader.load()).nodes.get('members/pg1')?.value).toBe('{"state":"starting"}');
    expect(await writer.acquireLeader()).toBe(true);
    const withLeader = await reader.load();
    expect(withLeader.nodes.get('leader')).toMatchObject({ value: 'pg1', owner: writer.inspect().sessionId });
    expect(await writer.remove('config', { kind: 'any' })).toBe(true);
    const last = await reader.load();
    expect(last.nodes.has('config')).toBe(false);
    expect(last.nodes.get('members/pg0')?.value).toBe('{"state":"running"}');

    // Our own write is in our next load too (the driver contract), from the copy.
    await reader.touchMember('{"state":"stopped"}');
    expect((await reader.load()).nodes.get('members/pg0')?.value).toBe('{"state":"stopped"}');

    const after = reader.inspect().cache;
    expect(after.fullReads).toBe(before.fullReads);
    expect(after.cachedLoads - before.cachedLoads).toBe(6);
    // A cached load is one sync, and one re-read per changed znode.
    expect(after.watchRegistrations - before.watchRegistrations).toBeLessThan(20);
  });

  it('drops the copy when the connection goes and reads the cluster in full once it is back', async () => {
    const scope = randomScope();
    const reader = await make(scope, 'pg0', 20);
    const writer = await make(scope, 'pg1', 20);
    expect(await writer.write('config', '{"v":1}', { kind: 'any' })).toBe(true);
    expect((await reader.load()).nodes.get('config')?.value).toBe('{"v":1}');
    await settled(reader);
    const session = reader.inspect().sessionId;
    const before = reader.inspect().cache;

    await zk.stopMember(0);
    await until('the reader to notice', () => reader.inspect().state === 'connecting');
    const offline = reader.inspect().cache.state;
    const down = await reader.load({ timeoutMs: 1000 }).then(
      () => null,
      (e: unknown) => e,
    );
    await zk.startMember(0);
    await until('both connected again', () => reader.inspect().state === 'connected' && writer.inspect().state === 'connected');
    expect(await writer.write('config', '{"v":2}', { kind: 'any' })).toBe(true);
    const back = await reader.load();
    await settled(reader);

    expect(offline).toBe('invalid');
    expect(isDcsError(down, DcsErrorCode.Unavailable), `load while disconnected: ${String(down)}`).toBe(true);
    expect(reader.inspect().sessionId).toBe(session);
    expect(back.nodes.get('config')?.value).toBe('{"v":2}');
    // At least one full read after the reconnect (the driver's own, maybe the load's too).
    expect(reader.inspect().cache.fullReads).toBeGreaterThan(before.fullReads);

    // Every watch was armed again: the next change is served from the copy.
    const rearmed = reader.inspect().cache;
    expect(await writer.write('config', '{"v":3}', { kind: 'any' })).toBe(true);
    expect((await reader.load()).nodes.get('config')?.value).toBe('{"v":3}');
    expect(reader.inspect().cache.fullReads).toBe(rearmed.fullReads);
    expect(reader.inspect().cache.cachedLoads).toBe(rearmed.cachedLoads + 1);
  });

  it('never answers from the copy while the server is frozen', async () => {
    const scope = randomScope();
    const reader = await make(scope, 'pg0');
    await reader.touchMember('{}');
    await reader.load();
    await settled(reader);
    zk.freeze(0);
    const frozen = await reader.load({ timeoutMs: 1000 }).then(
      () => null,
      (e: unknown) => e,
    );
    zk.thaw(0);
    expect(isDcsError(frozen, DcsErrorCode.Unavailable), `load from a frozen server: ${String(frozen)}`).toBe(true);
  });
});
