/**
 * End-to-end (issue #18, replicas that claim to follow but do not): a two-member cluster. pg1's
 * primary_conninfo is pointed at a wrong port behind pgha's back (its postgresql.conf edited and
 * reloaded), so its WAL receiver cannot stream from the leader while PostgreSQL runs and every
 * Patroni check would stay green. pgha reports it (`GET /replica` 503, `/health?lag=` 503), past
 * `replica_not_streaming_timeout` (default ttl + loop_wait) re-points it (reason code
 * `receiver.repoint` in GET /decisions and `pghactl explain --history`), and pg1 streams from the
 * leader again: its pg_stat_wal_receiver says so, and a row written on the leader arrives.
 * Then, with a shorter bound set through PATCH /config, the leader's walsender for pg1 is
 * terminated over and over: pgha restarts the receiver side (`receiver.restart` or, with no
 * receiver process left, `receiver.restart-postgres`), and once the leader lets it, pg1 streams.
 *
 * PGHA_E2E_DCS=etcd runs it on etcd (default ZooKeeper); PGHA_E2E_ECHO=1 shows the logs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { query, tryQuery } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { api, apiJson } from './support/rest.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };

interface DecisionRecord {
  code: string;
  reason: string;
  actions: string[];
  facts: { walReceiver?: { status: string | null; upstream: string | null; notStreamingMs: number | null; repairStep: number } };
}

describe(`self-healing: a replica that does not stream is reported and repaired (${DCS})`, () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;
  let replica: MemberHandle;
  let killing: ReturnType<typeof setInterval> | undefined;

  const fail = (e: unknown): never => {
    throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 30)}`);
  };
  const status = async (m: MemberHandle, path: string): Promise<number | null> => (await m.get(path))?.status ?? null;
  const decisionsOf = async (m: MemberHandle): Promise<DecisionRecord[]> => (await apiJson<{ decisions: DecisionRecord[] }>(m, '/decisions')).decisions;
  const streamingFromLeader = async (): Promise<boolean> => {
    const r = await receiver(replica);
    return r?.status === 'streaming' && r.sender_port === primary.pgPort;
  };
  const receiver = async (m: MemberHandle) =>
    (await tryQuery<{ status: string; sender_port: number }>(m, 'SELECT status, sender_port FROM pg_stat_wal_receiver'))?.[0] ?? null;

  beforeAll(async () => {
    cluster = await startLocalCluster({
      members: 2,
      dcs: DCS,
      timing: TIMING,
      extra: { 1: { bootstrap: undefined } },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    primary = await cluster.waitForPrimary(WAIT_MS);
    replica = cluster.members.find((m) => m !== primary)!;
    await waitForStreaming(cluster, primary).catch(fail);
    await query(primary, 'CREATE TABLE healed_rows (id int PRIMARY KEY)');
  });

  afterAll(async () => {
    if (killing) clearInterval(killing);
    await cluster?.stop();
  });

  it('reports the replica unhealthy while it does not stream, re-points it, and it streams from the leader again', async () => {
    await waitFor('/replica 200 on the streaming replica', async () => (await status(replica, '/replica')) === 200, WAIT_MS, 250).catch(fail);

    // Behind pgha's back: primary_conninfo names a port nobody listens on.
    const conf = join(replica.dataDir, 'postgresql.conf');
    const text = readFileSync(conf, 'utf8');
    const broken = text.replace(/^(primary_conninfo\s*=.*?\bport=)\d+/m, '$11');
    expect(broken).not.toBe(text);
    writeFileSync(conf, broken);
    await query(replica, 'SELECT pg_reload_conf()');

    await waitFor(`${replica.name} not streaming`, async () => (await receiver(replica))?.status !== 'streaming', WAIT_MS, 100).catch(fail);
    await waitFor(`/replica 503 on ${replica.name}`, async () => (await status(replica, '/replica')) === 503, WAIT_MS, 100).catch(fail);
    // Taken while pgha reports the replica unhealthy, before the repair has had its effect.
    const healthWithLag = await status(replica, '/health?lag=1MB');
    const health = await status(replica, '/health');

    const repaired = async (): Promise<DecisionRecord | null> => (await decisionsOf(replica)).find((d) => d.code === 'receiver.repoint') ?? null;
    await waitFor('the receiver.repoint decision', async () => (await repaired()) !== null, WAIT_MS, 250).catch(fail);
    await waitFor(`${replica.name} streaming from ${primary.name} again`, streamingFromLeader, WAIT_MS, 250).catch(fail);
    await query(primary, 'INSERT INTO healed_rows VALUES (1)');
    await waitForRow(replica, 'healed_rows', 1).catch(fail);
    await waitFor(`/replica 200 on ${replica.name} again`, async () => (await status(replica, '/replica')) === 200, WAIT_MS, 250).catch(fail);

    expect(healthWithLag).toBe(503);
    expect(health).toBe(200);
    const record = (await repaired())!;
    expect(record.reason).toMatch(new RegExp(`^not streaming from ${primary.name} for \\d+ s: changing primary_conninfo to ${primary.name} and reloading$`));
    expect(record.actions).toContain(`follow(${primary.name})`);
    expect(record.facts.walReceiver).toMatchObject({ upstream: primary.name, repairStep: 1 });

    const history = await pghactl(primary, ['explain', '--history', '-f', 'json']);
    expect(history.code, history.stderr).toBe(0);
    const rows = JSON.parse(history.stdout) as { Member: string; Code: string }[];
    expect(rows.filter((r) => r.Code === 'receiver.repoint').map((r) => r.Member)).toEqual([replica.name]);

    const metrics = (await replica.get('/metrics'))?.body ?? '';
    expect(metrics).toMatch(/pgha_decisions_total\{[^}]*code="receiver\.repoint"\} [1-9]/);
    expect(metrics).toMatch(/pgha_replica_not_streaming_unhealthy\{[^}]*\} 0/);
  });

  it('a replica whose walsender is terminated over and over: its receiver side is restarted, and it streams again', async () => {
    // A shorter bound, through the dynamic configuration, which refuses what is not a duration.
    expect((await api(primary, 'PATCH', '/config', { replica_not_streaming_timeout: 'soon' })).status).toBe(400);
    expect((await api(primary, 'PATCH', '/config', { replica_not_streaming_timeout: 8 })).status).toBe(200);
    await waitFor(
      `${replica.name} running with the new bound`,
      async () => (await apiJson<Record<string, unknown>>(replica, '/config'))['replica_not_streaming_timeout'] === 8,
      WAIT_MS,
      250,
    ).catch(fail);
    const restarts = async () => (await decisionsOf(replica)).filter((d) => d.code === 'receiver.restart' || d.code === 'receiver.restart-postgres');
    const before = (await restarts()).length;

    killing = setInterval(
      () => void tryQuery(primary, 'SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = $1', [replica.name]),
      100,
    );
    await waitFor(`/replica 503 on ${replica.name}`, async () => (await status(replica, '/replica')) === 503, WAIT_MS, 100).catch(fail);
    await waitFor('a receiver.restart decision', async () => (await restarts()).length > before, WAIT_MS, 250).catch(fail);
    clearInterval(killing);
    killing = undefined;

    await waitFor(`${replica.name} streaming from ${primary.name} again`, streamingFromLeader, WAIT_MS, 250).catch(fail);
    await query(primary, 'INSERT INTO healed_rows VALUES (2)');
    await waitForRow(replica, 'healed_rows', 2).catch(fail);
    await waitFor(`/replica 200 on ${replica.name} again`, async () => (await status(replica, '/replica')) === 200, WAIT_MS, 250).catch(fail);

    const record = (await restarts())[before]!;
    expect(record.reason).toMatch(new RegExp(`^not streaming from ${primary.name} for \\d+ s: (restarting the WAL receiver|no WAL receiver runs; restarting PostgreSQL)$`));
    expect(record.facts.walReceiver).toMatchObject({ upstream: primary.name, repairStep: 2 });
  });
});
