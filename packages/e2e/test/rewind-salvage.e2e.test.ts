/**
 * An old primary rewound after a failover loses the transactions it committed that never reached
 * the new primary. pgha lists them before pg_rewind discards them (the salvage report): in its log
 * and in `GET /history` on the rewound member.
 *
 * To get such transactions on purpose, the primary's WAL sender is frozen (SIGSTOP) before rows
 * are inserted: the commits are acknowledged on the primary but never sent. Then the primary's
 * node crashes (agent, postmaster and the frozen sender all killed), the replica takes over, and
 * the old primary's agent is started again and rewinds it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { query, tryQuery } from '@pgha/workload';
import { WAIT_MS, isReplica, tail, waitForStreaming } from './support/cluster-checks.js';
import { apiJson } from './support/rest.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

interface SalvageLine {
  timeline: number;
  transactions: number | null;
  relations: { rel: string; records: number }[];
}

describe(`salvage report of a rewind on ${DCS}`, () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 2, dcs: DCS, scope: 'salvage', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 } });
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('lists the committed transactions the old primary loses, and the relation they wrote', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const replica = cluster.members.find((m) => m !== primary) as MemberHandle;
    await waitForStreaming(cluster, primary);
    await query(primary, 'CREATE TABLE salvage_rows (id int PRIMARY KEY)');
    await query(primary, 'INSERT INTO salvage_rows VALUES (1)');
    await waitFor('row 1 on the replica', async () => ((await tryQuery(replica, 'SELECT 1 FROM salvage_rows WHERE id = 1')) ?? []).length === 1, WAIT_MS, 100);
    const [filenode] = await query<{ f: string }>(primary, "SELECT pg_relation_filenode('salvage_rows')::text AS f");

    const [sender] = await query<{ pid: number }>(primary, 'SELECT pid FROM pg_stat_replication');
    expect(sender?.pid).toBeGreaterThan(0);
    process.kill(sender!.pid, 'SIGSTOP');
    try {
      for (const id of [2, 3, 4]) await query(primary, 'INSERT INTO salvage_rows VALUES ($1)', [id]);
      await primary.killAgent();
      primary.killPostmaster();
    } finally {
      process.kill(sender!.pid, 'SIGKILL');
    }

    const promoted = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(promoted.name).toBe(replica.name);
    const kept = await query<{ id: number }>(promoted, 'SELECT id FROM salvage_rows ORDER BY id');
    expect(kept.map((r) => r.id)).toEqual([1]);

    primary.start();
    await waitForStreaming(cluster, promoted).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(primary, 60)}`);
    });
    expect(await isReplica(primary)).toBe(true);
    // The three inserts, and possibly a background transaction (autovacuum) of the same moments.
    const logged = /pg_rewind discards WAL \S+ of timeline 1 \(\d+ bytes\): (\d+) committed transaction\(s\)/.exec(primary.output());
    expect(Number(logged?.[1])).toBeGreaterThanOrEqual(3);

    const history = await apiJson<unknown[][]>(primary, '/history');
    const line = history.find((h) => h[0] === 1);
    const salvage = (line?.[5] as { salvage?: SalvageLine[] } | undefined)?.salvage;
    expect(salvage).toHaveLength(1);
    expect(salvage![0]!.transactions).toBeGreaterThanOrEqual(3);
    expect(salvage![0]!.relations.map((r) => r.rel.split('/')[2])).toContain(filenode!.f);
  });
});
