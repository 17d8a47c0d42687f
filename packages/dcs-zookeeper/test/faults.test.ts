// Fault tests against one real ZooKeeper server (tickTime 500: sessions of 1 to 10 s), started once
// for the file: the shared fault cases of `@pgha/dcs/testing`, then ZooKeeper's own (the hold
// against the session timeout, session loss, watch re-arming). Every test uses its own scope.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DcsErrorCode, isDcsError, systemClock, type WatchEvent } from '@pgha/dcs';
import { startZooKeeper, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { createDriver, type ZooKeeperDriver } from '../src/index.js';
import { driverOptions, randomScope, recordingLogger, sleep, until } from './fixtures/driver-options.js';
import { describeDriverFaults, type MakeDriverOptions } from '@pgha/dcs/testing';
import type { Logger } from '@pgha/dcs';

let zk: ZooKeeperEnsemble;
const opened: ZooKeeperDriver[] = [];
const clock = systemClock;

beforeAll(async () => {
  zk = await startZooKeeper({ members: 1, tickTime: 500 });
});

afterEach(async () => {
  zk.thaw(0);
  if (!zk.members[0]!.process) await zk.startMember(0);
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
});

afterAll(async () => {
  await zk?.stop();
});

async function make(o: MakeDriverOptions & { section?: Record<string, unknown>; logger?: Logger }): Promise<ZooKeeperDriver> {
  const d = (await createDriver(driverOptions(zk.connectString, o))) as ZooKeeperDriver;
  opened.push(d);
  return d;
}

/** Runs `call` and returns how it rejected (or null if it resolved) and how long it took. */
async function outcome(call: () => Promise<unknown>): Promise<{ error: unknown; value: unknown; ms: number }> {
  const start = clock.now();
  try {
    const value = await call();
    return { error: null, value, ms: clock.now() - start };
  } catch (error) {
    return { error, value: undefined, ms: clock.now() - start };
  }
}

interface RawClient {
  on(event: 'connect', cb: () => void): void;
  init(config: object): void;
  close(): void;
  a_create(path: string, data: string, flags: number, cb: (rc: number) => void): number;
}

/** Creates persistent znodes (parents first) with the plain npm client, outside any driver. */
async function writeRawNodes(nodes: Array<[string, string]>): Promise<void> {
  const ZooKeeper = createRequire(import.meta.url)('zookeeper') as new (config: object) => RawClient;
  const client = new ZooKeeper({ connect: zk.connectString, timeout: 5000 });
  await new Promise<void>((resolve) => {
    client.on('connect', resolve);
    client.init({});
  });
  const create = (path: string, data: string) =>
    new Promise<void>((resolve, reject) => {
      client.a_create(path, data, 0, (rc) => (rc === 0 || rc === -110 ? resolve() : reject(new Error(`create ${path}: ${rc}`))));
    });
  try {
    for (const [path, data] of nodes) {
      const parts = path.split('/').filter(Boolean);
      for (let i = 1; i < parts.length; i++) await create(`/${parts.slice(0, i).join('/')}`, '');
      await create(path, data);
    }
  } finally {
    client.close();
  }
}

/** The session ids and watched paths of `wchc` (watches by session). */
async function watchesBySession(): Promise<Map<string, string[]>> {
  const text = await zk.fourLetter(0, 'wchc');
  const map = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of text.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line.trim()) && !line.startsWith('\t')) {
      current = [];
      map.set(line.trim().slice(2), current);
    } else if (line.startsWith('\t') && current) current.push(line.trim());
  }
  return map;
}

function watchesArmed(d: ZooKeeperDriver): boolean {
  const { cache } = d.inspect();
  return cache.state === 'current' && cache.pending === 0;
}

describeDriverFaults({
  name: 'zookeeper, one server',
  makeDriver: async (o) => createDriver(driverOptions(zk.connectString, o)),
  freeze: async () => {
    zk.freeze(0);
    // Make sure the stop has taken hold of the JVM before the driver is probed.
    const answered = await zk.fourLetter(0, 'ruok', 300).then(
      () => true,
      () => false,
    );
    if (answered) throw new Error('ZooKeeper still answers after SIGSTOP');
  },
  thaw: () => zk.thaw(0),
  stop: () => zk.stopMember(0),
  start: () => zk.startMember(0),
  recover: async () => {
    zk.thaw(0);
    if (!zk.members[0]!.process) await zk.startMember(0);
  },
  // Every watch is a read of the watch-fed copy: armed once the copy is current and no re-read
  // (re-registration after a fire) is still pending.
  watchesReady: (d) => until('watches armed', () => watchesArmed(d as ZooKeeperDriver)),
  reconnected: (d) => until('the driver connected again', () => (d as ZooKeeperDriver).inspect().state === 'connected'),
  // The 1 s heartbeat (a sync) keeps moving the hold between calls.
  refreshesInBackground: true,
});

describe('hold timing', () => {
  it('runs out while the server is frozen, before the server could expire the session', async () => {
    const d = await make({ scope: randomScope(), name: 'pg0', ttl: 4, retryTimeout: 1 });
    expect(await d.acquireLeader()).toBe(true);
    const session = d.inspect().sessionId;
    const negotiated = d.inspect().negotiatedTimeoutMs!;
    expect(negotiated).toBe(4000);
    expect(await d.renewLeader()).toBe(true);
    const frozenAt = clock.now();
    zk.freeze(0);
    // The hold never reaches past the earliest moment the server could expire the session: every
    // refresh comes from a request sent before the freeze, and the server restarted the expiry
    // when it received it, which was later. (The heartbeat may still land one such refresh.)
    const bound = frozenAt + negotiated;
    expect(d.hold().validUntil!).toBeLessThanOrEqual(bound);
    // Make sure the stop has taken hold of the JVM before probing the driver.
    await expect(zk.fourLetter(0, 'ruok', 300)).rejects.toThrow(/no answer/);

    // In-flight calls end at their deadline (1 s) as DCS_UNAVAILABLE; none resolves true.
    const renew = await outcome(() => d.renewLeader());
    expect(isDcsError(renew.error, DcsErrorCode.Unavailable), `renew while frozen: ${String(renew.error)} ${String(renew.value)}`).toBe(true);
    expect(renew.ms).toBeLessThan(5000);

    // Nothing moves the hold forward while the server is frozen, and it runs out on its own
    // clock: the library has not reported any session loss (it cannot, the server is silent).
    // The probe only notes the furthest hold it saw; whether that stayed within the bound is
    // checked after the wait, where a failure cannot be retried away.
    let furthest = Number.NEGATIVE_INFINITY;
    await until('the hold to run out', () => {
      const h = d.hold();
      if (h.validUntil !== null) furthest = Math.max(furthest, h.validUntil);
      return h.validUntil === null || clock.now() > h.validUntil;
    });
    const lapsedAt = clock.now();
    expect(furthest, `the hold reached ${furthest}, past the session-expiry bound ${bound}`).toBeLessThanOrEqual(bound);
    expect(lapsedAt).toBeLessThan(frozenAt + negotiated + 2000);
    expect(d.inspect().sessionsStarted).toBe(1);
    expect(d.inspect().sessionId).toBe(session);
    expect(await d.renewLeader().catch(() => 'unavailable')).toBe('unavailable');

    // Past the session timeout, thaw: the server expires the session (or, racing with the
    // client's reconnect, keeps it). Either way the driver recovers, and only through the race.
    await sleep(frozenAt + negotiated + 1500 - clock.now());
    zk.thaw(0);
    await until('a usable session again', async () => (await outcome(() => d.load())).error === null);
    const renewed = await d.renewLeader();
    if (d.inspect().sessionId === session) {
      expect(renewed).toBe(true);
    } else {
      expect(renewed).toBe(false);
      expect(await d.acquireLeader()).toBe(true);
    }
    // The first answer after the silence counts the silence against its hold (session-manager.ts,
    // IDLE_ALLOWANCE_MS), so the hold may still lie in the past; the lock holder's 1 s heartbeat
    // brings it back within a few seconds, or `until` fails the test.
    await until('the hold in force again', () => (d.hold().validUntil ?? Number.NEGATIVE_INFINITY) > clock.now());
  });

  it('uses the negotiated timeout, with a warning, when ttl exceeds the server maximum', async () => {
    const logger = recordingLogger();
    const d = await make({ scope: randomScope(), name: 'pg0', ttl: 30, logger });
    const before = clock.now();
    expect(await d.acquireLeader()).toBe(true);
    // tickTime 500: the server allows at most 20 ticks.
    expect(d.inspect().negotiatedTimeoutMs).toBe(10_000);
    expect(d.hold().ttl).toBe(10);
    expect(d.hold().validUntil!).toBeLessThanOrEqual(clock.now() + 10_000);
    expect(d.hold().validUntil!).toBeGreaterThanOrEqual(before + 10_000 - 1);
    const warning = logger.lines.find((l) => l.level === 'warn' && /shorter session timeout/.test(l.msg));
    expect(warning?.obj).toMatchObject({ requestedMs: 30_000, negotiatedMs: 10_000 });
  });
});

describe('server restart', () => {
  // The shared fault cases check the lock, the keys and the watch after a restart; this is what
  // ZooKeeper's session adds: calls fail at once while the client reconnects, and the same session
  // comes back with its ephemerals.
  it('fails calls at once while reconnecting, and keeps the session and its ephemerals when the server comes back within it', async () => {
    const scope = randomScope();
    const d = await make({ scope, name: 'pg0', ttl: 10, retryTimeout: 5 });
    await d.touchMember('{"role":"master"}');
    expect(await d.acquireLeader()).toBe(true);
    const session = d.inspect().sessionId!;

    await zk.stopMember(0);
    await until('the driver to notice the lost connection', () => d.inspect().state === 'connecting');
    // While reconnecting, calls fail at once instead of waiting for their 5 s deadline.
    const down = await outcome(() => d.renewLeader());
    expect(isDcsError(down.error, DcsErrorCode.Unavailable)).toBe(true);
    expect(down.ms).toBeLessThan(2500);

    await zk.startMember(0);
    await until('the lock renewed after the restart', async () => (await outcome(() => d.renewLeader())).value === true);
    expect(d.inspect().sessionId).toBe(session);
    expect(d.inspect().sessionsStarted).toBe(1);
    const c = await d.load();
    expect(c.nodes.get('leader')).toMatchObject({ value: 'pg0', owner: session });
    expect(c.nodes.get('members/pg0')).toMatchObject({ value: '{"role":"master"}', owner: session });
  });
});

describe('session loss', () => {
  it('after the agent side was frozen past the session, the ephemerals are gone and the lock returns only through the race', async () => {
    const scope = randomScope();
    const a = await make({ scope, name: 'pg0', ttl: 2, retryTimeout: 1 });
    const b = await make({ scope, name: 'pg1', ttl: 10 });
    await a.touchMember('{"role":"master"}');
    expect(await a.acquireLeader()).toBe(true);
    const oldSession = a.inspect().sessionId!;
    const pid = a.inspect().pid!;

    // Stop the session process: no pings reach the server, as when the whole agent hangs.
    process.kill(pid, 'SIGSTOP');
    try {
      await until('pg1 to win the lock once the session of pg0 expired', () => b.acquireLeader(), 30_000, 200);
      // When somebody else holds the lock, our hold has long run out.
      const h = a.hold();
      expect(h.validUntil === null || h.validUntil < clock.now()).toBe(true);
      expect((await b.load()).nodes.has('members/pg0')).toBe(false);
    } finally {
      // Only if it is still our session process: the driver may have killed it as unresponsive,
      // and with pid_max at 32768 its pid may already belong to another test's server.
      if (isSessionProcess(pid)) process.kill(pid, 'SIGCONT');
    }

    await until('pg0 to run a new session', () => a.inspect().state === 'connected' && a.inspect().sessionId !== oldSession, 30_000);
    const newSession = a.inspect().sessionId!;
    // The member znode is re-created in the new session; the leader znode is not.
    await until('pg0 member znode re-created', async () => (await b.load()).nodes.get('members/pg0')?.owner === newSession, 10_000);
    expect((await a.load()).nodes.get('members/pg0')?.value).toBe('{"role":"master"}');
    expect(await a.renewLeader()).toBe(false);
    expect(await a.acquireLeader()).toBe(false);
    expect((await a.load()).nodes.get('leader')?.value).toBe('pg1');

    expect(await b.releaseLeader()).toBe(true);
    expect(await a.acquireLeader()).toBe(true);
    expect((await b.load()).nodes.get('leader')).toMatchObject({ value: 'pg0', owner: newSession });
  });

  it('counts a crashed session process (SIGABRT) as a lost session, and adopts the leader znode it left', async () => {
    const scope = randomScope();
    const d = await make({ scope, name: 'pg0', ttl: 10 });
    const observer = await make({ scope, name: 'pg1' });
    await d.touchMember('{"role":"master"}');
    expect(await d.acquireLeader()).toBe(true);
    const oldSession = d.inspect().sessionId!;
    expect(d.hold().validUntil).not.toBeNull();
    const events: WatchEvent[] = [];
    d.watch((e) => events.push(e));

    process.kill(d.inspect().pid!, 'SIGABRT');
    await until('the hold to be dropped', () => d.hold().validUntil === null, 10_000, 5);
    await until('a new session', () => d.inspect().state === 'connected' && d.inspect().sessionId !== oldSession, 30_000);
    const newSession = d.inspect().sessionId!;
    expect(d.inspect().sessionsStarted).toBe(2);

    // The old session lives on at the server until its timeout, with the znodes it owned. The
    // member znode is replaced at once; the leader znode names us, so renew re-creates it in ours.
    await until('member znode moved to the new session', async () => (await observer.load()).nodes.get('members/pg0')?.owner === newSession, 10_000);
    expect((await observer.load()).nodes.get('leader')?.owner).toBe(oldSession);
    expect(await d.renewLeader()).toBe(true);
    expect((await observer.load()).nodes.get('leader')).toMatchObject({ value: 'pg0', owner: newSession });
    expect(d.hold().validUntil!).toBeGreaterThan(clock.now());

    // Watches were armed again on the new session.
    const mark = events.length;
    expect(await observer.write('config', '{"a":1}', { kind: 'any' })).toBe(true);
    await until('a config event on the new session', () => events.slice(mark).some((e) => e.key === 'config'), 10_000);
  });
});

describe('watches', () => {
  it('re-arms after every fire without accumulating registrations, on the client or the server', async () => {
    const scope = randomScope();
    const w = await make({ scope, name: 'pg0' });
    const actor = await make({ scope, name: 'pg1' });
    let configEvents = 0;
    w.watch((e) => void (e.key === 'config' && configEvents++));
    expect(await actor.write('config', '{"round":-1}', { kind: 'any' })).toBe(true);
    await until('config read by the watcher', async () => (await w.load()).nodes.has('config') && watchesArmed(w));
    const start = w.inspect();
    const watchedAtStart = (await watchesBySession()).get(start.sessionId!)?.sort();
    expect(watchedAtStart).toContain(`/service/${scope}/config`);

    const rounds = 60;
    for (let i = 0; i < rounds; i++) {
      const before = configEvents;
      expect(await actor.write('config', `{"round":${i}}`, { kind: 'any' })).toBe(true);
      await until(`config event ${i}`, () => configEvents > before, 10_000, 1);
      await until(`config watch re-armed ${i}`, () => watchesArmed(w), 10_000, 1);
    }
    const end = w.inspect();
    expect(end.cache.watchFires - start.cache.watchFires).toBe(rounds);
    // One registration (the re-read) per fire: nothing accumulates.
    expect(end.cache.watchRegistrations - start.cache.watchRegistrations).toBe(rounds);
    expect(end.cache.fullReads).toBe(start.cache.fullReads);
    const server = await watchesBySession();
    expect(server.get(end.sessionId!)?.sort()).toEqual(watchedAtStart);
  });
});

describe('connection', () => {
  it('connects through a host list whose first host is down', async () => {
    const scope = randomScope();
    const dead = '127.0.0.1:1';
    const d = await make({ scope, name: 'pg0', section: { hosts: [dead, zk.connectString] } });
    expect(await d.acquireLeader()).toBe(true);
    expect(d.inspect().state).toBe('connected');
  });

  it('reads a large member list without the client closing the session', async () => {
    const scope = randomScope();
    const d = await make({ scope, name: 'pg0', retryTimeout: 10 });
    await d.touchMember('{}');
    // 300 member znodes of 500 bytes, written with a plain client (persistent, so they outlive it).
    const value = JSON.stringify({ conn_url: 'postgres://10.0.0.1:5432/postgres', pad: 'x'.repeat(450) });
    await writeRawNodes(Array.from({ length: 300 }, (_, i) => [`/service/${scope}/members/m${i}`, value]));
    const session = d.inspect().sessionId;
    for (let i = 0; i < 3; i++) {
      const c = await d.load();
      expect([...c.nodes.keys()].filter((k) => k.startsWith('members/'))).toHaveLength(301);
    }
    expect(d.inspect().sessionId).toBe(session);
    expect(d.inspect().sessionsStarted).toBe(1);
  });

  it('rejects every call DCS_CLOSED after close, and close is idempotent', async () => {
    const d = await make({ scope: randomScope(), name: 'pg0' });
    const pid = d.inspect().pid!;
    await d.close({ revoke: true });
    await d.close();
    expect(isDcsError((await outcome(() => d.load())).error, DcsErrorCode.Closed)).toBe(true);
    expect(d.hold().validUntil).toBeNull();
    // The session process is gone.
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

function isSessionProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('session-process');
  } catch {
    return false;
  }
}
