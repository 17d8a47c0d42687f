/**
 * End-to-end, issues 17 and 21: in maintenance mode an agent's clean stop leaves PostgreSQL
 * running, as Patroni's does (the leader key ends with the agent's session; the next agent takes
 * it again) — the way to restart or upgrade pgha
 * under a running cluster with no write pause at all: `pghactl pause`, restart each agent (the
 * new one adopts the running postmaster), `pghactl resume`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { ACKED_TABLE, ACKED_TABLE_DDL, query, startWriter, type Writer } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { apiJson } from './support/rest.js';

// ZooKeeper by default (the seed's store; most other files default to etcd); PGHA_E2E_DCS picks the store.
const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';
const postmasterPid = (m: MemberHandle) => Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe(`agents restarted in maintenance mode (${DCS})`, () => {
  let cluster: LocalCluster;
  let writer: Writer | null = null;

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, scope: 'paused-restart', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 }, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await writer?.stop();
    await cluster?.stop();
  });

  it('keeps every postmaster and the leader key while each agent is restarted; writes never pause', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await query(primary, ACKED_TABLE_DDL);
    writer = startWriter(cluster.members);
    const paused = await pghactl(primary, ['pause', '--wait']);
    expect(paused.code, paused.stderr).toBe(0);
    const postmasters = cluster.members.map(postmasterPid);

    for (const m of [...cluster.members.filter((x) => x !== primary), primary]) {
      const agent = m.agent!.child.pid;
      await m.stop();
      expect(m.output().split('\n').slice(-15).join('\n')).toContain('Postgresql is not stopped due paused state; the leader key goes with this session and the next agent takes it again');
      expect(alive(postmasterPid(m))).toBe(true);
      m.start();
      // Adopted, and its first cycle done: /patroni answers 200 (a starting agent answers 503).
      const adopted = async () =>
        m.agent !== null && m.agent.child.pid !== agent && m.output().includes(`adopted the running postmaster (pid ${postmasterPid(m)})`) && (await m.request('GET', '/patroni', undefined, 5000).catch(() => null))?.status === 200;
      await waitFor(`${m.name}'s new agent to adopt its postmaster`, adopted, WAIT_MS).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
      });
    }
    // The same postmasters throughout, nobody demoted or promoted; the restarted primary's agent
    // takes the lock again (its old session, and the key with it, ended with the old agent).
    expect(cluster.members.map(postmasterPid)).toEqual(postmasters);
    const leaderOf = async () => (await apiJson<{ members: { name: string; role: string }[] }>(primary, '/cluster')).members.find((m) => m.role === 'leader')?.name;
    await waitFor('the primary to hold the lock again', async () => (await leaderOf()) === primary.name, WAIT_MS);
    expect(await leaderOf()).toBe(primary.name);

    const resumed = await pghactl(primary, ['resume', '--wait']);
    expect(resumed.code, resumed.stderr).toBe(0);
    await waitForStreaming(cluster, primary);
    const w = writer;
    await w.stop();
    writer = null;
    // Every acknowledged commit is there, and no write failed: the primary never went away.
    const acked = w.acked().map((c) => c.id);
    expect(acked.length).toBeGreaterThan(0);
    const rows = await query<{ id: string }>(primary, `SELECT id FROM ${ACKED_TABLE} WHERE id = ANY($1::bigint[])`, [acked]);
    expect(rows.length).toBe(acked.length);
    expect(w.failures()).toEqual([]);
  });
});
