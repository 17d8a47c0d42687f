// The start-up check for a second agent with our name (pgha issue 15), on the in-memory DCS and a
// fake clock: the rule (refuse a live other session, wait out a crashed run's) is pure logic.
import { describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, serializeMemberData, silentLogger, type DcsDriver, type MemberData } from '@pgha/dcs';
import type { PeerFetch } from '@pgha/ha-engine';
import { createFakeClock } from '@pgha/ha-engine/testing';
import { DuplicateNameError, ensureUniqueName } from '../src/unique-name.js';

const OTHER = { conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni', state: 'running', role: 'primary', tags: {}, extra: {} } satisfies MemberData;
const TTL = 10;
const LOOP_WAIT = 2;

const answering: PeerFetch = async () => ({ ok: true, status: 200, json: async () => ({}) });
const silent: PeerFetch = async () => {
  throw new Error('connect ECONNREFUSED');
};

function setup() {
  const clock = createFakeClock();
  const backend = createMemoryBackend({ clock });
  const make = async (name: string): Promise<DcsDriver> =>
    backend.createDriver({ namespace: '/service', scope: 'demo', name, ttl: TTL, loopWait: LOOP_WAIT, retryTimeout: 3, section: {}, clock, logger: silentLogger });
  const check = async (fetch: PeerFetch, me?: { connUrl: string; apiUrl: string }) => {
    const driver = await make('pg0');
    const store = createClusterStore(driver, { name: 'pg0', logger: silentLogger });
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, m?: string) => void warnings.push(m ?? ''), info: () => undefined };
    let outcome: { ok: true } | { ok: false; error: unknown } | null = null;
    void ensureUniqueName({ name: 'pg0', scope: 'demo', store, driver, fetch, clock, logger: logger as never, ttl: TTL, loopWait: LOOP_WAIT, ...(me ? { me } : {}) }).then(
      () => (outcome = { ok: true }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    return { driver, warnings, outcome: () => outcome };
  };
  return { clock, backend, make, check };
}

/** Moves the fake clock one second at a time until `done()` or `seconds` ran out; `tick` runs each second. */
async function runFor(clock: ReturnType<typeof createFakeClock>, seconds: number, done: () => boolean, tick?: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < seconds && !done(); i++) {
    await tick?.();
    await clock.advance(1000);
  }
  await clock.settle();
}

describe('ensureUniqueName (start-up check for a duplicate member name)', () => {
  it('starts at once when no member key has our name (another member of the cluster is no obstacle)', async () => {
    const { clock, make, check } = setup();
    const pg1 = await make('pg1');
    await pg1.touchMember(serializeMemberData(OTHER));
    const free = await check(answering);
    await runFor(clock, 1, () => free.outcome() !== null);
    expect(free.outcome()).toEqual({ ok: true });
  });

  it("refuses at once, in one line naming the other member's addresses, when its key is on another live session and its API answers", async () => {
    const { clock, make, check, backend } = setup();
    const other = await make('pg0');
    await other.touchMember(serializeMemberData(OTHER));
    const before = backend.snapshot();
    const attempt = await check(answering);
    await runFor(clock, 1, () => attempt.outcome() !== null);
    const outcome = attempt.outcome();
    expect(outcome?.ok).toBe(false);
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(DuplicateNameError);
    const message = (error as Error).message;
    expect(message).toContain(OTHER.api_url);
    expect(message).toContain(OTHER.conn_url);
    expect(message).not.toMatch(/\n/);
    expect((error as DuplicateNameError).code).toBe('AGENT_DUPLICATE_NAME');
    expect(backend.snapshot()).toEqual(before);
  });

  it('waits for the key of a crashed previous run (API silent, session no longer refreshed) to expire, then starts', async () => {
    const { clock, make, check } = setup();
    const crashed = await make('pg0');
    await crashed.touchMember(serializeMemberData(OTHER));
    // The crashed run makes no more calls: its session expires ttl after its last one.
    const attempt = await check(silent);
    await runFor(clock, TTL + LOOP_WAIT + 5, () => attempt.outcome() !== null);
    expect(attempt.outcome()).toEqual({ ok: true });
    expect(attempt.warnings.some((w) => w.includes('waiting up to'))).toBe(true);
  });

  it('refuses once ttl + loop_wait have passed when the key is kept alive although its API does not answer', async () => {
    const { clock, make, check } = setup();
    const other = await make('pg0');
    await other.touchMember(serializeMemberData(OTHER));
    const attempt = await check(silent);
    await runFor(clock, 3 * (TTL + LOOP_WAIT), () => attempt.outcome() !== null, () => other.load());
    const outcome = attempt.outcome();
    expect(outcome?.ok).toBe(false);
    const message = ((outcome as { error: unknown }).error as Error).message;
    expect(message).toMatch(/outlived ttl/);
    expect(message).toContain(OTHER.api_url);
  });

  it("adopts a previous run's session at once when its key carries this agent's own addresses and its API is silent; the leader key follows", async () => {
    const { clock, make, check } = setup();
    const crashed = await make('pg0');
    await crashed.touchMember(serializeMemberData(OTHER));
    expect(await crashed.acquireLeader()).toBe(true);
    const owner = (await crashed.load()).nodes.get('leader')?.owner;
    const attempt = await check(silent, { connUrl: OTHER.conn_url, apiUrl: OTHER.api_url });
    await runFor(clock, 1, () => attempt.outcome() !== null);
    expect(attempt.outcome()).toEqual({ ok: true });
    expect(owner !== undefined && attempt.driver.ownsSession(owner)).toBe(true);
    // The restarted agent's first renewal keeps the lock, now on its own session.
    expect(await attempt.driver.renewLeader()).toBe(true);
    const moved = (await attempt.driver.load()).nodes.get('leader')?.owner;
    expect(moved !== undefined && moved !== owner).toBe(true);
  });

  it('does not adopt a key with other addresses (a copied YAML on another host), nor one whose API answers', async () => {
    const { clock, make, check } = setup();
    const other = await make('pg0');
    await other.touchMember(serializeMemberData(OTHER));
    const elsewhere = await check(silent, { connUrl: 'postgres://10.0.0.2:5432/postgres', apiUrl: 'http://10.0.0.2:8008/patroni' });
    await runFor(clock, 3, () => elsewhere.outcome() !== null, () => other.load());
    expect(elsewhere.outcome()).toBeNull();
    const alive = await check(answering, { connUrl: OTHER.conn_url, apiUrl: OTHER.api_url });
    await runFor(clock, 1, () => alive.outcome() !== null);
    expect(alive.outcome()?.ok).toBe(false);
  });
});
