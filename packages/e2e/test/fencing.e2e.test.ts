/**
 * Issue 10, end to end: 3 pgha members (etcd, or ZooKeeper in `e2e-zookeeper`), each with the FIFO testing watchdog whose
 * supervisor (in this process) SIGKILLs the member's PostgreSQL when keepalives stop. pg2 is
 * configured `mode: required` with a device that does not exist, so it must never promote.
 * A writer polls every member all along and must never find two writable primaries.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
let cluster: LocalCluster;

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Polls every member: which of them accept a write (txid_current() fails during recovery). */
function startWriter(members: MemberHandle[]) {
  const clients = new Map<string, pg.Client | null>();
  const writableSeen = new Set<string>();
  let maxWritable = 0;
  let overlaps: string[] = [];
  let running = true;
  const writable = async (m: MemberHandle): Promise<boolean> => {
    let client = clients.get(m.name) ?? null;
    try {
      if (!client) {
        client = new pg.Client({ host: '127.0.0.1', port: m.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres', connectionTimeoutMillis: 1000, query_timeout: 1000 });
        client.on('error', () => {});
        clients.set(m.name, client);
        await client.connect();
      }
      await client.query('select txid_current()');
      return true;
    } catch {
      clients.set(m.name, null);
      await client?.end().catch(() => {});
      return false;
    }
  };
  const done = (async () => {
    while (running) {
      const results = await Promise.all(members.map(async (m) => ((await writable(m)) ? m.name : null)));
      const now = results.filter((n): n is string => n !== null);
      for (const n of now) writableSeen.add(n);
      maxWritable = Math.max(maxWritable, now.length);
      if (now.length > 1) overlaps = [...overlaps, now.join('+')];
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    get maxWritable() {
      return maxWritable;
    },
    get overlaps() {
      return overlaps;
    },
    writableSeen,
    async stop() {
      running = false;
      await done;
      for (const c of clients.values()) await c?.end().catch(() => {});
    },
  };
}

async function role(m: MemberHandle): Promise<string | null> {
  const s = await m.status();
  return s ? String(s['role']) : null;
}

describe(`watchdog fencing (issue 10) on ${DCS}`, () => {
  let writer: ReturnType<typeof startWriter>;

  beforeAll(async () => {
    cluster = await startLocalCluster({
      members: 3,
      dcs: DCS,
      timing: TIMING,
      watchdog: true,
      echo: process.env['PGHA_E2E_ECHO'] === '1',
      extra: { 2: { watchdog: { mode: 'required', device: '/nonexistent/watchdog' } } },
    });
    try {
      await cluster.waitForPrimary(240_000);
      const [, , pg2] = cluster.members;
      await waitUntil('pg2 streaming as a replica', async () => (await pg2!.status())?.['replication_state'] === 'streaming', 240_000);
    } catch (e) {
      // The agents' last words say why the cluster did not come up.
      const tails = cluster.members.map((m) => `--- ${m.name}\n${m.output().split('\n').slice(-15).join('\n')}`).join('\n');
      throw new Error(`${(e as Error).message}\n${tails}`, { cause: e });
    }
    writer = startWriter(cluster.members);
  }, 520_000);

  afterAll(async () => {
    await writer?.stop();
    for (const m of cluster?.members ?? []) m.thawAgent();
    await cluster?.stop();
  }, 120_000);

  it('a frozen primary agent is fenced by its watchdog before a replica takes over', async () => {
    const old = await cluster.waitForPrimary(30_000);
    expect(old.name).not.toBe('pg2');
    const fire = old.watchdog!.nextFire();
    old.freezeAgent();
    try {
      const fired = await Promise.race([fire, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
      expect(fired?.detail).toMatch(/^killed postmaster \d+/);
      // Fenced while the lock still stood: nobody else is primary yet.
      const others = cluster.members.filter((m) => m !== old);
      expect(await Promise.all(others.map(role))).not.toContain('master');
      const next = await cluster.waitForPrimary(60_000, old.name);
      expect(next.name).not.toBe('pg2');
    } finally {
      old.thawAgent();
    }
    // The old primary comes back as a replica of the new one.
    await waitUntil(`${old.name} back as a streaming replica`, async () => (await old.status())?.['replication_state'] === 'streaming', 120_000);
    expect(writer.overlaps).toEqual([]);
  }, 300_000);

  it('a primary agent killed by SIGKILL is fenced too (the device stays armed)', async () => {
    const old = await cluster.waitForPrimary(30_000);
    const fire = old.watchdog!.nextFire();
    await old.killAgent();
    const fired = await Promise.race([fire, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
    expect(fired?.detail).toMatch(/^killed postmaster \d+/);
    const next = await cluster.waitForPrimary(60_000, old.name);
    expect(next.name).not.toBe('pg2');
    expect(writer.overlaps).toEqual([]);
    expect(writer.maxWritable).toBe(1);
  }, 200_000);

  it('required mode without a usable device: runs as a replica, says why, never promotes', async () => {
    const pg2 = cluster.members[2]!;
    const status = await pg2.status();
    expect(status?.['watchdog_failed']).toBe(true);
    expect(writer.writableSeen.has('pg2')).toBe(false);
    // Leave pg2 alone: the primary shuts down cleanly (releasing the lock) and the other member stops.
    const primary = await cluster.waitForPrimary(30_000);
    for (const m of cluster.members) if (m !== pg2 && m !== primary) await m.stop();
    await primary.stop();
    const until = Date.now() + (TIMING.ttl + 5) * 1000;
    while (Date.now() < until) {
      expect(await role(pg2)).toBe('replica');
      await new Promise((r) => setTimeout(r, 500));
    }
    const after = await pg2.status();
    expect(after?.['watchdog_failed']).toBe(true);
    expect(after?.['cluster_unlocked']).toBe(true);
    expect(writer.writableSeen.has('pg2')).toBe(false);
  }, 200_000);
});
