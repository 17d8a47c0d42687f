/**
 * Issue 20, process pauses on one cluster (each case leaves it healthy for the next): the
 * primary's agent stopped (SIGSTOP) for a quarter of the ttl must move nothing — no failover, no
 * watchdog firing; the primary's PostgreSQL stopped whole (postmaster and backends: a hung
 * server, not a dead one) is fenced by its watchdog and restarted in place (docs/chaos.md says
 * what happens without a watchdog). The agent frozen past the ttl is ha.e2e's and
 * fencing.e2e's case. Throughout, a prober writes to every member: two members accepting writes
 * at once fails the file.
 *
 * ZooKeeper by default (the seed's store); PGHA_E2E_DCS picks the store, PGHA_E2E_ECHO=1 shows the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { PROBE_TABLE_DDL, query, splitBrainWindows, startProber, tryQuery, type Prober } from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary, isReplica } from './support/cluster-checks.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function postmasterStart(m: MemberHandle): Promise<string | null> {
  return (await tryQuery<{ t: string }>(m, 'SELECT pg_postmaster_start_time()::text AS t'))?.[0]?.t ?? null;
}

async function timeline(m: MemberHandle): Promise<number | null> {
  const rows = await tryQuery<{ tli: number }>(m, 'SELECT timeline_id AS tli FROM pg_control_checkpoint()');
  return rows?.[0]?.tli ?? null;
}

describe(`process pauses on ${DCS}`, () => {
  let cluster: LocalCluster;
  let prober: Prober | undefined;

  const expectNoSplitBrain = () => {
    expect(splitBrainWindows(prober?.intervals() ?? []), 'times when two members accepted writes').toEqual([]);
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, timing: TIMING, watchdog: true, scope: 'pauses', echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await healthyPrimary(cluster);
    await query(primary, PROBE_TABLE_DDL);
    for (const m of cluster.members) {
      await waitFor(`the probe table on ${m.name}`, async () => (await tryQuery(m, 'SELECT 1 FROM workload_probe LIMIT 1')) !== null, WAIT_MS);
    }
    prober = startProber(cluster.members, { intervalMs: 100 });
  }, 300_000);

  afterAll(async () => {
    for (const m of cluster?.members ?? []) {
      m.thawAgent();
      m.thawPostgres();
    }
    await prober?.stop();
    await cluster?.stop();
  }, 120_000);

  it('an agent paused for ttl / 4 s keeps its primary: no failover, no fencing, nobody else takes writes', async () => {
    const primary = await healthyPrimary(cluster);
    const started = await postmasterStart(primary);
    const since = Date.now();
    let fired = false;
    void primary.watchdog!.nextFire().then(() => (fired = true));
    primary.freezeAgent();
    try {
      await sleep((TIMING.ttl * 1000) / 4);
    } finally {
      primary.thawAgent();
    }
    // Long enough for a promotion a lapsed lock would have allowed, and for the agent to renew.
    await sleep((TIMING.ttl + TIMING.loopWait * 2) * 1000);
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(primary.name);
    expect(fired, 'the watchdog fired').toBe(false);
    expect(await postmasterStart(primary)).toBe(started);
    const others = prober!.intervals().filter((i) => i.member !== primary.name && i.to >= since);
    expect(others, 'writes accepted by a replica').toEqual([]);
    expectNoSplitBrain();
  }, 120_000);

  it('a hung primary PostgreSQL (postmaster and backends stopped): its watchdog fences it before the lock lapses, and the agent restarts it in place', async () => {
    // A cycle that cannot read PostgreSQL's state renews neither the lock nor the watchdog, so the
    // watchdog (ttl - safety_margin) fires before the lock (ttl) expires: the hung server is
    // killed, and the agent, still holding the lock, starts it again as the primary. Nobody
    // else is promoted, and the stopped server never takes a write after its lock could have lapsed.
    const primary = await healthyPrimary(cluster);
    const started = await postmasterStart(primary);
    const tliBefore = await timeline(primary);
    const fire = primary.watchdog!.nextFire();
    expect(primary.freezePostgres()).toBeGreaterThan(1);
    let fired: { detail: string } | null;
    try {
      fired = await Promise.race([fire, sleep(WAIT_MS).then(() => null)]);
    } finally {
      primary.thawPostgres();
    }
    expect(fired?.detail).toMatch(/^killed postmaster \d+/);
    await waitFor(`${primary.name} accepting writes again`, async () => prober!.writableNow().includes(primary.name), WAIT_MS).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    expect((await healthyPrimary(cluster)).name).toBe(primary.name);
    expect(await postmasterStart(primary)).not.toBe(started);
    expect(await timeline(primary)).toBe(tliBefore);
    for (const m of cluster.members.filter((x) => x !== primary)) expect(await isReplica(m)).toBe(true);
    expectNoSplitBrain();
  }, 300_000);
});
