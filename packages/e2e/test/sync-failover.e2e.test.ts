/**
 * Issue 20: a node crash of the primary (agent and postmaster killed together) under
 * `synchronous_mode: strict` and then `synchronous_mode: quorum`, on one cluster switched between
 * the two with PATCH /config. A writer commits all along; after each crash only a member the
 * `sync` key named at the crash may be the new primary, every commit acknowledged before the
 * crash must be on it, and no two members may accept writes at once. sync.e2e covers `on`.
 *
 * ZooKeeper by default (the seed's store); PGHA_E2E_DCS picks the store, PGHA_E2E_ECHO=1 shows the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClusterStore, startLocalCluster, type ClusterStore, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import {
  ACKED_TABLE, ACKED_TABLE_DDL, PROBE_TABLE_DDL, query, splitBrainWindows, startProber, startWriter, tryQuery, type Prober, type Writer,
} from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary, isReplica, waitForStreaming } from './support/cluster-checks.js';
import { api } from './support/rest.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };

describe(`failover of a crashed primary in strict and quorum mode on ${DCS}`, () => {
  let cluster: LocalCluster;
  let store: ClusterStore;
  let prober: Prober | undefined;
  let writer: Writer | undefined;

  /** The sync key once it names `leader` with standbys (and, in quorum mode, a quorum). */
  const publishedSync = async (leader: MemberHandle, quorum: boolean): Promise<string[]> => {
    let named: string[] = [];
    await waitFor(`the sync key to name standbys of ${leader.name}`, async () => {
      const sync = (await store.loadCluster()).sync?.value;
      named = sync && sync.leader === leader.name && (!quorum || sync.quorum > 0) ? [...sync.sync_standby] : [];
      return named.length > 0;
    }, WAIT_MS, 200).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 25)}`);
    });
    return named.sort();
  };

  /** Crashes the primary while the writer commits; returns who took over. */
  const crashPrimary = async (primary: MemberHandle, eligible: string[]) => {
    const since = Date.now();
    await waitFor('commits acknowledged before the crash', async () => writer!.acked().some((c) => c.sentAt >= since), WAIT_MS, 100);
    await primary.killAgent();
    primary.killPostmaster();
    const ackedAtCrash = writer!.acked().slice();
    const next = await cluster.waitForPrimary(WAIT_MS, primary.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    const after = Date.now();
    await waitFor(`a commit on ${next.name}`, async () => writer!.acked().some((c) => c.sentAt >= after), WAIT_MS, 100);
    const present = new Set((await query<{ id: string }>(next, `SELECT id FROM ${ACKED_TABLE}`, [], 30_000)).map((r) => Number(r.id)));
    const lost = ackedAtCrash.filter((c) => !present.has(c.id)).map((c) => c.id);
    primary.start();
    await waitForStreaming(cluster, next).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    return { next, lost, eligible, acked: ackedAtCrash.length };
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, timing: TIMING, scope: 'syncfail', watchdog: true, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await healthyPrimary(cluster);
    store = await openClusterStore(cluster);
    await query(primary, ACKED_TABLE_DDL);
    await query(primary, PROBE_TABLE_DDL);
    for (const m of cluster.members) {
      await waitFor(`the tables on ${m.name}`, async () => (await tryQuery(m, `SELECT 1 FROM ${ACKED_TABLE} LIMIT 1`)) !== null, WAIT_MS);
    }
    prober = startProber(cluster.members, { intervalMs: 100 });
    writer = startWriter(cluster.members);
  }, 300_000);

  afterAll(async () => {
    await writer?.stop();
    await prober?.stop();
    await store?.close();
    await cluster?.stop();
  }, 120_000);

  it.each([
    { mode: 'strict', patch: { synchronous_mode: true, synchronous_mode_strict: true }, quorum: false },
    { mode: 'quorum', patch: { synchronous_mode: 'quorum', synchronous_mode_strict: false }, quorum: true },
  ])('$mode: only a member of the sync key takes over, with every acknowledged commit', async ({ patch, quorum }) => {
    const primary = await healthyPrimary(cluster);
    const res = await api(primary, 'PATCH', '/config', patch);
    expect(res.status, res.text).toBe(200);
    const eligible = await publishedSync(primary, quorum);
    const { next, lost, acked } = await crashPrimary(primary, eligible);
    expect(eligible).toContain(next.name);
    expect(acked).toBeGreaterThan(0);
    expect(lost, 'acknowledged commits missing on the new primary').toEqual([]);
    expect(await isReplica(primary)).toBe(true);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  }, 300_000);
});
