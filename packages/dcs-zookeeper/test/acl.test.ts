// ZooKeeper access control against one real server: auth_data authenticates the driver's sessions
// (old and new, before and after a reconnect), set_acls puts the ACL on every znode the driver
// creates, and a client without the credentials can neither change nor remove the leader key.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, DcsErrorCode, isDcsError, silentLogger, systemClock, type Logger } from '@pgha/dcs';
import type { MakeDriverOptions } from '@pgha/dcs/testing';
import { startZooKeeper, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { digestId } from '../src/config.js';
import { createDriver, type ZooKeeperDriver } from '../src/index.js';
import { PERM, ZRC, type AclEntry, type Request } from '../src/protocol.js';
import { driverOptions, randomScope, recordingLogger, until } from './fixtures/driver-options.js';
import { openRawSession, sortAcl, type RawSession } from './fixtures/raw-session.js';

const CREDENTIAL = 'pgha:secret';
const PGHA_ID = digestId(CREDENTIAL);
/** pgha may do everything, anyone may read (patronictl without credentials, monitoring). */
const SET_ACLS = { [`digest:${PGHA_ID}`]: ['ALL'], 'world:anyone': ['READ'] };
const EXPECTED_ACL: AclEntry[] = sortAcl([
  { scheme: 'digest', id: PGHA_ID, perms: PERM.all },
  { scheme: 'world', id: 'anyone', perms: PERM.read },
]);
const PGHA_ONLY: AclEntry[] = [{ scheme: 'digest', id: PGHA_ID, perms: PERM.all }];

let zk: ZooKeeperEnsemble;
/** Authenticated as pgha: reads ACLs back. */
let admin: RawSession;
/** No credentials at all: everyone else on the network. */
let stranger: RawSession;
const opened: ZooKeeperDriver[] = [];

beforeAll(async () => {
  // tickTime 500: sessions of 1-10 s; a restart of the server fits in a 10 s session.
  zk = await startZooKeeper({ members: 1, tickTime: 500 });
  admin = await openRawSession(zk.connectString, [['digest', CREDENTIAL]]);
  stranger = await openRawSession(zk.connectString);
});

afterEach(async () => {
  if (!zk.members[0]!.process) await zk.startMember(0);
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
});

afterAll(async () => {
  await admin?.close();
  await stranger?.close();
  await zk?.stop();
});

async function make(o: MakeDriverOptions & { section?: Record<string, unknown>; logger?: Logger }): Promise<ZooKeeperDriver> {
  const d = (await createDriver(driverOptions(zk.connectString, o))) as ZooKeeperDriver;
  opened.push(d);
  return d;
}

function section(extra: Record<string, unknown>): Record<string, unknown> {
  return { hosts: zk.connectString.split(','), ...extra };
}

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  return null;
}

describe('auth_data', () => {
  it('authenticates the session: a znode only pgha may use is readable and writable with it, and not without it or with a wrong password', async () => {
    const namespace = `/${randomScope('authns')}`;
    const scope = 'batman';
    // An operator locked the cluster directory and its config to pgha's digest user.
    await admin.mkdirs(`${namespace}/${scope}`, PGHA_ONLY);
    expect((await admin.call({ op: 'create', path: `${namespace}/${scope}/config`, data: '{"ttl":30}', ephemeral: false })).rc).toBe(ZRC.ok);
    expect((await admin.call({ op: 'set_acl', path: `${namespace}/${scope}/config`, version: 0, acl: PGHA_ONLY })).rc).toBe(ZRC.ok);
    // What a client without the credentials gets: the server really checks this ACL.
    expect((await stranger.call({ op: 'get', path: `${namespace}/${scope}/config` })).rc).toBe(ZRC.noAuth);

    const d = await make({ namespace, scope, name: 'pg0', section: section({ auth_data: { digest: CREDENTIAL } }) });
    expect((await d.load()).nodes.get('config')?.value).toBe('{"ttl":30}');
    expect(await d.write('config', '{"ttl":20}', { kind: 'any' })).toBe(true);
    expect((await admin.call({ op: 'get', path: `${namespace}/${scope}/config` })).data).toBe('{"ttl":20}');

    for (const auth_data of [undefined, { digest: 'pgha:wrong' }]) {
      const other = await make({ namespace, scope, name: 'pg1', section: section(auth_data ? { auth_data } : {}) });
      const load = await rejection(() => other.load());
      expect(isDcsError(load, DcsErrorCode.Rejected), String(load)).toBe(true);
      expect(String(load)).toMatch(/-102/);
      expect((load as { hint?: string }).hint).toMatch(/zookeeper\.auth_data/);
      expect(isDcsError(await rejection(() => other.write('config', '{}', { kind: 'any' })), DcsErrorCode.Rejected)).toBe(true);
      const touch = await rejection(() => other.touchMember('{}'));
      expect(isDcsError(touch, DcsErrorCode.Rejected), String(touch)).toBe(true);
    }
    expect((await admin.call({ op: 'get', path: `${namespace}/${scope}/config` })).data).toBe('{"ttl":20}');
  });
});

describe('set_acls', () => {
  it('puts the ACL on every znode the driver creates, parents included; a client without the credentials cannot change or remove the leader key while the driver keeps renewing', async () => {
    const namespace = `/${randomScope('aclns')}`;
    const scope = 'batman';
    const base = `${namespace}/${scope}`;
    const acls = section({ auth_data: { digest: CREDENTIAL }, set_acls: SET_ACLS });
    const d = await make({ namespace, scope, name: 'pg0', section: acls });
    const store = createClusterStore(d, { name: 'pg0', logger: silentLogger });
    await d.touchMember('{"role":"primary"}');
    expect(await d.acquireLeader()).toBe(true);
    // Every stored key, through the store as the HA loop writes them.
    expect(await store.attemptToInitialize()).toBe(true);
    expect(await store.setConfig({ ttl: 10, loop_wait: 1, retry_timeout: 3 }, null)).toBe(true);
    expect(await store.setFailover({ leader: 'pg0', member: 'pg1' }, null)).toBe(true);
    expect(await store.setSync({ leader: 'pg0', sync_standby: ['pg1'], quorum: 0 }, null)).toBe(true);
    expect(await store.setHistory([{ timeline: 1, lsn: 100, reason: 'test', timestamp: '2026-01-01T00:00:00+00:00', new_leader: 'pg0' }], null)).toBe(true);
    expect(await store.setStatus({ optime: 100, slots: {}, retain_slots: [] })).toBe(true);
    expect(await store.setFailsafe({ pg0: 'http://127.0.0.1:8008/patroni' })).toBe(true);

    const keys = ['leader', 'members/pg0', 'initialize', 'config', 'failover', 'sync', 'history', 'status', 'failsafe'];
    expect([...(await d.load()).nodes.keys()].sort()).toEqual([...keys].sort());
    for (const path of [namespace, base, `${base}/members`, ...keys.map((k) => `${base}/${k}`)]) {
      expect(await admin.acl(path), path).toEqual(EXPECTED_ACL);
    }

    // The world may read (world:anyone READ), and do nothing else.
    const leader = `${base}/leader`;
    expect((await stranger.call({ op: 'get', path: leader })).data).toBe('pg0');
    const attempts: Array<Exclude<Request, { op: 'ping' } | { op: 'set_servers' }>> = [
      { op: 'set', path: leader, data: 'mallory', version: -1 },
      { op: 'delete', path: leader, version: -1 },
      { op: 'set_acl', path: leader, version: -1, acl: [{ scheme: 'world', id: 'anyone', perms: PERM.all }] },
      { op: 'delete', path: `${base}/members/pg0`, version: -1 },
      { op: 'set', path: `${base}/config`, data: '{}', version: -1 },
      { op: 'create', path: `${base}/failover`, data: '{}', ephemeral: false },
      { op: 'create', path: `${base}/members/mallory`, data: '{}', ephemeral: true },
    ];
    for (const request of attempts) {
      const r = await stranger.call(request);
      // Creating the existing failover key would be NODEEXISTS for a client allowed to create.
      expect(r.rc, `${request.op} ${request.path}`).toBe(ZRC.noAuth);
    }

    // The holder renews as before, its hold moving on, and the key is unchanged.
    const before = d.hold().validUntil!;
    for (let i = 0; i < 3; i++) expect(await d.renewLeader()).toBe(true);
    expect(d.hold().validUntil!).toBeGreaterThan(before);
    expect((await d.load()).nodes.get('leader')).toMatchObject({ value: 'pg0', owner: d.inspect().sessionId });

    // Another member with the same credentials works alongside, under the same ACL.
    const pg1 = await make({ namespace, scope, name: 'pg1', section: acls });
    expect(await pg1.acquireLeader()).toBe(false);
    await pg1.touchMember('{"role":"replica"}');
    expect(await admin.acl(`${base}/members/pg1`)).toEqual(EXPECTED_ACL);
    expect(await d.releaseLeader()).toBe(true);
    expect(await pg1.acquireLeader()).toBe(true);
    expect(await admin.acl(leader)).toEqual(EXPECTED_ACL);
  });

  it('keeps authenticating and putting the ACL on what it re-creates: after a reconnect and in a new session', async () => {
    const namespace = `/${randomScope('aclns')}`;
    const base = `${namespace}/batman`;
    const d = await make({ namespace, scope: 'batman', name: 'pg0', ttl: 10, retryTimeout: 5, section: section({ auth_data: { digest: CREDENTIAL }, set_acls: { [`digest:${PGHA_ID}`]: ['ALL'] } }) });
    await d.touchMember('{"role":"primary"}');
    expect(await d.acquireLeader()).toBe(true);
    const first = d.inspect().sessionId!;

    // Reconnect, same session: the C client replays the credentials, the ACL'd keys stay usable.
    await zk.stopMember(0);
    await until('the driver to notice the lost connection', () => d.inspect().state === 'connecting');
    await zk.startMember(0);
    await until('the lock renewed after the restart', async () => (await d.renewLeader().catch(() => false)) === true, 20_000, 100);
    expect(d.inspect().sessionId).toBe(first);
    expect(await d.write('config', '{"a":1}', { kind: 'any' })).toBe(true);
    expect((await d.load()).nodes.get('config')?.value).toBe('{"a":1}');

    // A new session (the session process crashed): authenticated again, and the member and
    // leader znodes it re-creates in it carry the ACL.
    process.kill(d.inspect().pid!, 'SIGKILL');
    await until('a new session', () => d.inspect().state === 'connected' && d.inspect().sessionId !== first, 30_000);
    const second = d.inspect().sessionId!;
    await until('member znode re-created in the new session', async () => (await d.load()).nodes.get('members/pg0')?.owner === second, 10_000);
    expect(await d.renewLeader()).toBe(true);
    const c = await d.load();
    expect(c.nodes.get('leader')).toMatchObject({ value: 'pg0', owner: second });
    expect(c.nodes.get('config')?.value).toBe('{"a":1}');
    for (const key of ['leader', 'members/pg0', 'config']) expect(await admin.acl(`${base}/${key}`), key).toEqual(PGHA_ONLY);
    expect((await stranger.call({ op: 'get', path: `${base}/leader` })).rc).toBe(ZRC.noAuth);
  });

  it('uses parents that exist already with their own ACL, and leaves that ACL alone', async () => {
    const namespace = `/${randomScope('prens')}`;
    // The operator made the namespace: pgha may create clusters in it and read it, nothing else.
    const nsAcl: AclEntry[] = [{ scheme: 'digest', id: PGHA_ID, perms: PERM.create | PERM.read }];
    await admin.mkdirs(namespace, nsAcl);
    const d = await make({ namespace, scope: 'batman', name: 'pg0', section: section({ auth_data: { digest: CREDENTIAL }, set_acls: SET_ACLS }) });
    await d.touchMember('{}');
    expect(await d.acquireLeader()).toBe(true);
    // Unchanged. (The server masks a digest's hash for a client without ADMIN on the znode.)
    expect(await admin.acl(namespace)).toEqual([{ scheme: 'digest', id: 'pgha:x', perms: PERM.create | PERM.read }]);
    expect(await admin.acl(`${namespace}/batman`)).toEqual(EXPECTED_ACL);
    expect(await admin.acl(`${namespace}/batman/leader`)).toEqual(EXPECTED_ACL);

    // A driver without the credentials cannot create its cluster there: refused, naming the key.
    const outsider = await make({ namespace, scope: 'robin', name: 'pg0' });
    const e = await rejection(() => outsider.touchMember('{}'));
    expect(isDcsError(e, DcsErrorCode.Rejected), String(e)).toBe(true);
    expect(String(e)).toContain(`create ${namespace}/robin`);
    expect((e as { hint?: string }).hint).toMatch(/zookeeper\.auth_data and the znode ACLs/);
  });

  it('leaves no world-open znode behind when the server refuses the ACL', async () => {
    const namespace = `/${randomScope('badacl')}`;
    const logger = recordingLogger();
    // A scheme the server has no authentication provider for: it answers INVALIDACL to the setACL.
    const d = await make({ namespace, scope: 'batman', name: 'pg0', logger, section: section({ set_acls: { 'nosuchscheme:pgha': ['ALL'] } }) });
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'warn', obj: { key: 'zookeeper.set_acls', relyingOn: ['nosuchscheme:pgha'] } }));
    const e = await rejection(() => d.acquireLeader());
    expect(isDcsError(e, DcsErrorCode.Rejected), String(e)).toBe(true);
    expect(String(e)).toMatch(new RegExp(`refused the ACL of ${namespace} \\(zookeeper\\.set_acls\\): -114 .*the znode was deleted`));
    expect((e as { hint?: string }).hint).toMatch(/no authentication provider/);
    expect((await admin.call({ op: 'get', path: namespace })).rc).toBe(ZRC.noNode);
  });
});

describe('the driver refuses at creation', () => {
  it('an x509 principal and use_ssl, naming the key, before starting a session', async () => {
    for (const [extra, key] of [
      [{ set_acls: { 'CN=pgha': ['ALL'] } }, 'zookeeper.set_acls.CN=pgha'],
      [{ use_ssl: true }, 'zookeeper.use_ssl'],
    ] as const) {
      const e = await rejection(async () =>
        createDriver({ namespace: '/service', scope: 'batman', name: 'pg0', ttl: 10, loopWait: 1, retryTimeout: 3, section: section(extra), clock: systemClock, logger: silentLogger }),
      );
      expect(isDcsError(e, DcsErrorCode.Config), String(e)).toBe(true);
      expect(String(e)).toContain(`${key}:`);
    }
  });
});
