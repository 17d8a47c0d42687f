/**
 * End-to-end, issue 16: a 3-member cluster on etcd whose REST APIs serve https with certificates
 * of a private CA and `verify_client: required`, each member holding a client certificate in
 * `ctl.certfile` (Patroni's acceptance-test setup). A leader race after a crash compares WAL
 * positions over mutual TLS, and pghactl runs list and switchover through the APIs without -k.
 *
 * Members' failover priorities are 1, 2, 3: with equal WAL, the replica of higher priority wins,
 * and the other says so — which it can only know by having read its peer's answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, diagnostics, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { query } from '@pgha/workload';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };

describe('mutual TLS between members and from pghactl (etcd)', () => {
  let cluster: LocalCluster;
  const priority = (m: MemberHandle) => m.index + 1;

  beforeAll(async () => {
    cluster = await startLocalCluster({
      dcs: 'etcd',
      scope: 'mtls',
      timing: TIMING,
      restapiTls: { verifyClient: 'required' },
      tags: { 0: { failover_priority: 1 }, 1: { failover_priority: 2 }, 2: { failover_priority: 3 } },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses callers without a client certificate', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    expect(primary.apiUrl).toMatch(/^https:/);
    const plain = await fetch(`${primary.apiUrl}/patroni`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => `HTTP ${r.status}`,
      (e: Error) => `refused: ${(e.cause as Error | undefined)?.message ?? e.message}`,
    );
    expect(plain).toMatch(/^refused/);
  });

  it('a leader race after a crash compares WAL positions over mutual TLS', async () => {
    const old = await cluster.waitForPrimary(WAIT_MS);
    await query(old, 'CREATE TABLE IF NOT EXISTS mtls_rows (id int PRIMARY KEY)');
    await query(old, 'INSERT INTO mtls_rows VALUES (1)');
    const replicas = cluster.members.filter((m) => m !== old);
    await waitFor('both replicas to have the row', async () => {
      for (const r of replicas) if (((await query<{ n: number }>(r, 'SELECT count(*)::int AS n FROM mtls_rows'))[0]?.n ?? 0) !== 1) return false;
      return true;
    }, WAIT_MS);
    const marks = new Map(replicas.map((r) => [r.name, r.output().length]));
    const since = (m: MemberHandle) => m.output().slice(marks.get(m.name) ?? 0);

    await old.killAgent();
    old.killPostmaster();
    const next = await cluster.waitForPrimary(WAIT_MS, old.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 60)}`);
    });
    const loser = replicas.find((r) => r !== next)!;
    const [high, low] = replicas[0]!.index > replicas[1]!.index ? [replicas[0]!, replicas[1]!] : [replicas[1]!, replicas[0]!];

    // The winner read the loser's answer over TLS, never failed to.
    expect(since(next), diagnostics(cluster, 60)).toMatch(new RegExp(`Got response from ${loser.name} https://127\\.0\\.0\\.1:${loser.apiPort}/patroni: in recovery, wal position \\d+`));
    expect(since(next)).not.toContain(`Request failed to ${loser.name}`);
    // Equal WAL: the higher priority wins and the other says why it stood back; if the lower one
    // was ahead, it wins and the higher one says that instead. Either sentence needs the peer's answer.
    if (next === high) {
      expect(since(low), diagnostics(cluster, 60)).toContain(`${high.name} has equally tolerable WAL position and priority ${priority(high)}, while this node has priority ${priority(low)}`);
    } else {
      expect(since(high), diagnostics(cluster, 60)).toContain(`Wal position of ${low.name} is ahead of my wal position`);
    }
    expect(since(loser)).not.toContain(`Request failed to ${next.name}`);

    old.start();
    await waitForStreaming(cluster, next);
  });

  it('pghactl lists the cluster and switches over through the https API, with the ctl certificate and without -k', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
    const candidate = cluster.members.find((m) => m !== primary)!;
    const list = await pghactl(primary, ['list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`\\| ${primary.name} +\\| 127\\.0\\.0\\.1:${primary.pgPort} \\| Leader`));
    const version = await pghactl(primary, ['version', 'mtls']);
    expect(version.stdout, version.stderr).toMatch(new RegExp(`${primary.name}: Patroni [\\d.]+ PostgreSQL`));
    const switchover = await pghactl(primary, ['switchover', '--leader', primary.name, '--candidate', candidate.name, '--force']);
    expect(switchover.stdout, `${switchover.stderr}\n${diagnostics(cluster, 60)}`).toContain(`Successfully switched over to "${candidate.name}"`);
    expect(switchover.stdout).not.toContain('falling back to DCS');
    expect(switchover.stderr).toBe('');
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(candidate.name);
  });
});
