/**
 * End-to-end, issue 17: node crashes while a cluster is half Patroni, half pgha — the state a
 * migration (docs/migration.md) leaves it in between steps. Synchronous mode is on, so a commit
 * the client saw acknowledged must survive any failover, whichever agent runs where.
 *
 * 1. A Patroni cluster whose replicas were replaced by pgha: the Patroni leader's node crashes
 *    (agent and postmaster, kill -9). The pgha synchronous standby takes over; the old leader,
 *    restarted as Patroni, rejoins on the new timeline.
 * 2. Then the other way: a pgha leader whose replicas are both Patroni crashes; a Patroni replica
 *    is promoted, and the old leader, restarted as pgha, rejoins.
 *
 * The YAML sets `etcd3.use_proxies: true`, common in Patroni setups behind an etcd proxy or load
 * balancer: pgha refused it before issue 17, so such a cluster could not be moved at all.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs; PGHA_E2E_REPORT=1 prints the client's figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClusterStore, startLocalCluster, syncStandbys, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { ACKED_TABLE_DDL, query, startWriter, type Writer } from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary } from './support/cluster-checks.js';
import { agentBehind, commitRecord, memberTimelines, settled, timelineHistory } from './support/mixed.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };

/** The standby the `sync` key names for `leader`, once it names exactly one. */
async function namedSyncStandby(cluster: LocalCluster, leader: MemberHandle): Promise<string> {
  const store = await openClusterStore(cluster);
  let named: string[] = [];
  try {
    await waitFor(`the sync key to name a standby of ${leader.name}`, async () => (named = syncStandbys(await store.loadCluster(), leader.name)).length === 1, WAIT_MS, 200);
  } finally {
    await store.close();
  }
  return named[0]!;
}

/** kill -9 of the member's agent and postmaster: its node went down. */
async function crash(member: MemberHandle): Promise<void> {
  await member.killAgent();
  member.killPostmaster();
}

describe('node crashes in a mixed Patroni and pgha cluster (synchronous mode)', () => {
  let cluster: LocalCluster;
  let writer: Writer | null = null;
  let first: MemberHandle;
  let second: MemberHandle;

  beforeAll(async () => {
    cluster = await startLocalCluster({
      agent: 'patroni',
      dcs: 'etcd',
      dcsSettings: { use_proxies: true },
      scope: 'mixed',
      timing: TIMING,
      dynamic: { synchronous_mode: true },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    first = await healthyPrimary(cluster);
    for (const replica of cluster.members.filter((m) => m !== first)) {
      await replica.replaceAgent('pgha');
      await settled(cluster, first);
    }
    await query(first, ACKED_TABLE_DDL);
    writer = startWriter(cluster.members);
  });

  afterAll(async () => {
    await writer?.stop();
    await cluster?.stop();
  });

  it('a Patroni leader crashes: its pgha synchronous standby takes over, and it rejoins as Patroni', async () => {
    expect(await agentBehind(first)).toBe('patroni');
    const standby = await namedSyncStandby(cluster, first);
    await waitFor('commits on the Patroni leader', async () => writer!.acked().some((c) => c.member === first.name), WAIT_MS, 100);
    await crash(first);

    second = await cluster.waitForPrimary(WAIT_MS, first.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    expect(second.name).toBe(standby);
    expect(await agentBehind(second)).toBe('pgha');

    first.start();
    const listed = await settled(cluster, second);
    expect(await agentBehind(first)).toBe('patroni');
    expect(['Replica', 'Sync Standby']).toContain(listed.find((r) => r.Member === first.name)?.Role);
    expect(String(listed.find((r) => r.Member === first.name)?.TL)).toBe('2');
  });

  it('a pgha leader whose replicas are Patroni crashes: a Patroni replica takes over, and it rejoins as pgha', async () => {
    const third = cluster.members.find((m) => m !== first && m !== second)!;
    await third.replaceAgent('patroni');
    await settled(cluster, second);
    expect(await agentBehind(second)).toBe('pgha');
    const standby = await namedSyncStandby(cluster, second);
    const before = writer!.acked().length;
    await waitFor('commits on the pgha leader', async () => writer!.acked().slice(before).some((c) => c.member === second.name), WAIT_MS, 100);
    await crash(second);

    const next = await cluster.waitForPrimary(WAIT_MS, second.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    expect(next.name).toBe(standby);
    expect(await agentBehind(next)).toBe('patroni');

    second.start();
    const listed = await settled(cluster, next);
    expect(await agentBehind(second)).toBe('pgha');
    expect(String(listed.find((r) => r.Member === second.name)?.TL)).toBe('3');
    await waitFor('a commit on the Patroni leader', async () => writer!.acked().some((c) => c.member === next.name), WAIT_MS, 100);

    const acked = writer!.acked();
    await writer!.stop();
    writer = null;
    const record = await commitRecord(next, acked);
    if (process.env['PGHA_E2E_REPORT'] === '1') console.log(`mixed crashes: ${JSON.stringify({ ...record, lost: record.lost.length })}`);
    expect(record.lost).toEqual([]);
    expect((await timelineHistory(cluster)).map((h) => h.timeline)).toEqual([1, 2]);
    expect(Object.values(await memberTimelines(cluster))).toEqual([3, 3, 3]);
  });
});
