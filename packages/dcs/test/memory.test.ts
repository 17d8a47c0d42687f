import { DcsErrorCode, createMemoryBackend, isDcsError, silentLogger } from '@pgha/dcs';
import type { DcsDriver, DriverOptions, MemoryBackend, MonotonicClock } from '@pgha/dcs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000): MonotonicClock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the settled state of `p` after `ms`, without awaiting its outcome. */
async function stateAfter(p: Promise<unknown>, ms: number): Promise<'pending' | 'settled'> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled ? 'settled' : 'pending';
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to reject');
}

let clock: ReturnType<typeof fakeClock>;
let backend: MemoryBackend;
let drivers: DcsDriver[];

function driver(name: string, overrides: Partial<DriverOptions> = {}): DcsDriver {
  const d = backend.createDriver({
    namespace: '/service',
    scope: 'batman',
    name,
    ttl: 10,
    loopWait: 1,
    retryTimeout: 3,
    section: {},
    clock,
    logger: silentLogger,
    ...overrides,
  });
  drivers.push(d);
  return d;
}

beforeEach(() => {
  clock = fakeClock();
  backend = createMemoryBackend({ clock });
  drivers = [];
});

afterEach(async () => {
  backend.faults.heal();
  await Promise.all(drivers.map((d) => d.close()));
});

describe('memory backend: sessions on the injected clock', () => {
  it('expires a session ttl seconds after its last successful call, dropping its ephemeral keys', async () => {
    const pg0 = driver('pg0');
    const pg1 = driver('pg1');
    await pg0.touchMember('{"role":"master"}');
    expect(await pg0.acquireLeader()).toBe(true);
    expect(await pg0.write('config', '{}', { kind: 'any' })).toBe(true);
    expect(pg0.hold().validUntil).toBe(11_000);

    clock.advance(9_999);
    expect([...backend.snapshot().keys()]).toEqual(['/service/batman/config', '/service/batman/leader', '/service/batman/members/pg0']);
    clock.advance(1);
    expect([...backend.snapshot().keys()]).toEqual(['/service/batman/config']);
    expect(pg0.hold().validUntil).toBeNull();

    expect(await pg1.acquireLeader()).toBe(true);
    expect(await pg0.renewLeader()).toBe(false);
    expect(backend.snapshot().get('/service/batman/leader')).toBe('pg1');
  });

  it('keeps a session alive while its calls succeed', async () => {
    const pg0 = driver('pg0');
    expect(await pg0.acquireLeader()).toBe(true);
    for (let i = 0; i < 5; i++) {
      clock.advance(6_000);
      expect(await pg0.renewLeader()).toBe(true);
    }
    expect(backend.snapshot().get('/service/batman/leader')).toBe('pg0');
    expect(pg0.hold().validUntil).toBe(clock.now() + 10_000);
    // A plain read refreshes an existing session too, as a ZooKeeper ping would.
    clock.advance(6_000);
    await pg0.load();
    clock.advance(6_000);
    expect(backend.snapshot().get('/service/batman/leader')).toBe('pg0');
  });

  it('expireSession drops the keys at once and nulls the hold; the next call starts a new session', async () => {
    const pg0 = driver('pg0');
    await pg0.touchMember('{}');
    expect(await pg0.acquireLeader()).toBe(true);
    const ownerBefore = (await pg0.load()).nodes.get('members/pg0')?.owner;
    expect(backend.faults.expireSession('pg0')).toBe(true);
    expect(backend.faults.expireSession('pg0')).toBe(false);
    expect(backend.faults.expireSession('nobody')).toBe(false);
    expect(pg0.hold().validUntil).toBeNull();
    expect(backend.snapshot().size).toBe(0);

    expect(await pg0.renewLeader()).toBe(false);
    await pg0.touchMember('{}');
    const ownerAfter = (await pg0.load()).nodes.get('members/pg0')?.owner;
    expect(ownerAfter).toBeDefined();
    expect(ownerAfter).not.toBe(ownerBefore);
    expect(pg0.hold().validUntil).toBe(clock.now() + 10_000);
  });

  it('re-attaches a leader key naming us to the new session on renew', async () => {
    const pg0 = driver('pg0');
    expect(await pg0.acquireLeader()).toBe(true);
    // Another writer's view: the key still names pg0, but pg0's session is gone and back.
    backend.faults.expireSession('pg0');
    await pg0.touchMember('{}'); // new session
    expect(await pg0.acquireLeader()).toBe(true);
    const c = await pg0.load();
    expect(c.nodes.get('leader')?.owner).toBe(c.nodes.get('members/pg0')?.owner);
  });

  it('applies a new ttl from the next refresh on', async () => {
    const pg0 = driver('pg0');
    expect(await pg0.acquireLeader()).toBe(true);
    await pg0.setTiming({ ttl: 30, loopWait: 10, retryTimeout: 10 });
    expect(pg0.hold().ttl).toBe(10);
    expect(await pg0.renewLeader()).toBe(true);
    expect(pg0.hold()).toEqual({ validUntil: clock.now() + 30_000, ttl: 30 });
    clock.advance(25_000);
    expect(backend.snapshot().get('/service/batman/leader')).toBe('pg0');
    clock.advance(5_000);
    expect(backend.snapshot().has('/service/batman/leader')).toBe(false);
  });

  it('measures validUntil from the send time of the call', async () => {
    const pg0 = driver('pg0');
    backend.faults.slow(50);
    const sentAt = clock.now();
    const acquiring = pg0.acquireLeader();
    clock.advance(4_000); // the answer takes (fake) 4 s to come back
    expect(await acquiring).toBe(true);
    expect(pg0.hold().validUntil).toBe(sentAt + 10_000);
  });

  it('keeps sessions of other members apart', async () => {
    const pg0 = driver('pg0');
    const pg1 = driver('pg1');
    await pg0.touchMember('{}');
    await pg1.touchMember('{}');
    clock.advance(6_000);
    await pg1.touchMember('{}');
    clock.advance(6_000);
    expect([...backend.snapshot().keys()]).toEqual(['/service/batman/members/pg1']);
  });

  it('closing without revoke leaves the keys until the ttl runs out; with revoke they go at once', async () => {
    const pg0 = driver('pg0');
    const pg1 = driver('pg1');
    await pg0.touchMember('{}');
    await pg1.touchMember('{}');
    await pg0.close();
    await pg1.close({ revoke: true });
    expect([...backend.snapshot().keys()]).toEqual(['/service/batman/members/pg0']);
    clock.advance(10_000);
    expect(backend.snapshot().size).toBe(0);
  });
});

describe('memory backend: faults', () => {
  it('unreachable (refuse) rejects every call with DCS_UNAVAILABLE at once and changes nothing', async () => {
    const pg0 = driver('pg0');
    const pg1 = driver('pg1');
    expect(await pg0.write('config', '{"v":1}', { kind: 'any' })).toBe(true);
    backend.faults.unreachable();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['load', () => pg1.load({ timeoutMs: 30_000 })],
      ['acquireLeader', () => pg1.acquireLeader({ timeoutMs: 30_000 })],
      ['renewLeader', () => pg1.renewLeader({ timeoutMs: 30_000 })],
      ['releaseLeader', () => pg1.releaseLeader({ timeoutMs: 30_000 })],
      ['touchMember', () => pg1.touchMember('{}', { timeoutMs: 30_000 })],
      ['deleteMember', () => pg1.deleteMember('pg0', { timeoutMs: 30_000 })],
      ['write', () => pg1.write('config', '{"v":2}', { kind: 'any' }, { timeoutMs: 30_000 })],
      ['remove', () => pg1.remove('config', { kind: 'any' }, { timeoutMs: 30_000 })],
      ['deleteCluster', () => pg1.deleteCluster({ timeoutMs: 30_000 })],
    ];
    for (const [what, call] of calls) {
      // A 30 s deadline with a 10 s test timeout: a refusal that waited for the deadline fails the test.
      const e = await rejection(call());
      expect(isDcsError(e, DcsErrorCode.Unavailable), `${what}: ${String(e)}`).toBe(true);
    }
    expect([...backend.snapshot()]).toEqual([['/service/batman/config', '{"v":1}']]);
    backend.faults.heal();
    expect(await pg1.acquireLeader()).toBe(true);
  }, 10_000);

  it('unreachable (hang) rejects only at the call deadline', async () => {
    const pg0 = driver('pg0');
    backend.faults.unreachable({ mode: 'hang' });
    const call = pg0.load({ timeoutMs: 400 });
    expect(await stateAfter(call, 100)).toBe('pending');
    const e = await rejection(call);
    expect(isDcsError(e, DcsErrorCode.Unavailable)).toBe(true);
    expect((e as Error).message).toContain('400 ms');
  });

  it('treats a deadline beyond the timer range as a long wait, not an instant one', async () => {
    const pg0 = driver('pg0');
    backend.faults.unreachable({ mode: 'hang' });
    const call = pg0.load({ timeoutMs: Number.POSITIVE_INFINITY });
    expect(await stateAfter(call, 50)).toBe('pending');
    await pg0.close();
    expect(isDcsError(await rejection(call), DcsErrorCode.Closed)).toBe(true);
  });

  it('the default deadline is retryTimeout', async () => {
    const pg0 = driver('pg0', { retryTimeout: 0.3 });
    backend.faults.unreachable({ mode: 'hang' });
    const e = await rejection(pg0.load());
    expect((e as Error).message).toContain('300 ms');
  });

  it('applies to one member only when named', async () => {
    const pg0 = driver('pg0');
    const pg1 = driver('pg1');
    backend.faults.unreachable({ member: 'pg0' });
    expect(isDcsError(await rejection(pg0.acquireLeader()), DcsErrorCode.Unavailable)).toBe(true);
    expect(await pg1.acquireLeader()).toBe(true);
    backend.faults.heal({ member: 'pg0' });
    expect(await pg0.acquireLeader()).toBe(false);
  });

  it('lets the session of an unreachable leader expire, so another member takes over', async () => {
    const pg0 = driver('pg0');
    const pg1 = driver('pg1');
    expect(await pg0.acquireLeader()).toBe(true);
    backend.faults.unreachable({ member: 'pg0' });
    clock.advance(5_000);
    await expect(pg0.renewLeader()).rejects.toThrow();
    expect(await pg1.acquireLeader()).toBe(false);
    clock.advance(5_000);
    expect(await pg1.acquireLeader()).toBe(true);
    backend.faults.heal();
    expect(await pg0.renewLeader()).toBe(false);
  });

  it('slow answers arrive late; past the deadline the call rejects although the write happened', async () => {
    const pg0 = driver('pg0');
    backend.faults.slow(200);
    const call = pg0.write('config', '{"v":1}', { kind: 'any' }, { timeoutMs: 5_000 });
    expect(await stateAfter(call, 50)).toBe('pending');
    expect(await call).toBe(true);

    const late = pg0.write('config', '{"v":2}', { kind: 'any' }, { timeoutMs: 50 });
    expect(isDcsError(await rejection(late), DcsErrorCode.Unavailable)).toBe(true);
    expect(backend.snapshot().get('/service/batman/config')).toBe('{"v":2}');
  });

  it('close settles calls still waiting with DCS_CLOSED', async () => {
    const pg0 = driver('pg0');
    backend.faults.unreachable({ mode: 'hang' });
    const call = pg0.load({ timeoutMs: 30_000 });
    await pg0.close();
    expect(isDcsError(await rejection(call), DcsErrorCode.Closed)).toBe(true);
  }, 10_000);

  it('a revoke does not get through while unreachable', async () => {
    const pg0 = driver('pg0');
    expect(await pg0.acquireLeader()).toBe(true);
    backend.faults.unreachable({ member: 'pg0' });
    await pg0.close({ revoke: true });
    expect(backend.snapshot().get('/service/batman/leader')).toBe('pg0');
    clock.advance(10_000);
    expect(backend.snapshot().size).toBe(0);
  });
});

describe('memory backend: watch', () => {
  it('delivers changes to watchers asynchronously, none while unreachable, late while slow', async () => {
    const watcher = driver('pg0');
    const actor = driver('pg1');
    const keys: string[] = [];
    const stop = watcher.watch((e) => keys.push(e.key));

    expect(await actor.acquireLeader()).toBe(true);
    await actor.touchMember('{}');
    await sleep(0);
    expect(keys).toEqual(['leader', 'members/pg1']);

    backend.faults.unreachable({ member: 'pg0' });
    expect(await actor.write('config', '{}', { kind: 'any' })).toBe(true);
    await sleep(10);
    expect(keys).toHaveLength(2);

    backend.faults.slow(100, { member: 'pg0' });
    expect(await actor.releaseLeader()).toBe(true);
    await sleep(20);
    expect(keys).toHaveLength(2);
    await sleep(150);
    expect(keys).toEqual(['leader', 'members/pg1', 'leader']);
    stop();
  });

  it('reports session expiry as a leader change, and survives a throwing listener', async () => {
    const watcher = driver('pg0');
    const actor = driver('pg1');
    const keys: string[] = [];
    watcher.watch(() => {
      throw new Error('listener bug');
    });
    watcher.watch((e) => keys.push(e.key));
    expect(await actor.acquireLeader()).toBe(true);
    backend.faults.expireSession('pg1');
    await sleep(0);
    expect(keys).toEqual(['leader', 'leader']);
  });

  it('does not report other scopes', async () => {
    const watcher = driver('pg0', { scope: 'a' });
    const other = driver('pg1', { scope: 'ab' });
    const keys: string[] = [];
    watcher.watch((e) => keys.push(e.key));
    expect(await other.acquireLeader()).toBe(true);
    await sleep(0);
    expect(keys).toEqual([]);
  });
});
