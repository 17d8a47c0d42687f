/**
 * End-to-end, issue 17: a real HAProxy (Debian's) in front of the cluster, configured as
 * Patroni's documentation shows: `option httpchk OPTIONS /primary` for the write port,
 * `/replica` for the read port, each server checked on its member's REST API. Writes reach the
 * primary and reads a replica, and the write port follows a switchover and a failover.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { freePorts, startProcess, waitFor, type ServerProcess } from '@pgha/test-servers';
import { query } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForStreaming } from './support/cluster-checks.js';
import { api } from './support/rest.js';

// ZooKeeper by default (the seed's store; most other files default to etcd); PGHA_E2E_DCS picks the store.
const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';

/** HAProxy's configuration, after Patroni's docs (haproxy.cfg in its repository). */
function haproxyConfig(cluster: LocalCluster, ports: { write: number; read: number; stats: number }, tlsPem: string | null): string {
  // On a hardened cluster (PGHA_E2E_HARDENED=1) the checks go over https with the cluster's client certificate.
  const check = (m: MemberHandle) => `check port ${m.apiPort}${tlsPem ? ` check-ssl verify required ca-file ${cluster.tls!.certificates.caFile} crt ${tlsPem}` : ''}`;
  const servers = (kind: string) => cluster.members.map((m) => `    server ${m.name}_${kind} 127.0.0.1:${m.pgPort} maxconn 100 ${check(m)}`).join('\n');
  return `global
    maxconn 200

defaults
    mode tcp
    retries 2
    timeout client 30m
    timeout connect 4s
    timeout server 30m
    timeout check 2s

listen stats
    mode http
    bind 127.0.0.1:${ports.stats}
    stats enable
    stats uri /

listen primary
    bind 127.0.0.1:${ports.write}
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
${servers('w')}

listen replicas
    bind 127.0.0.1:${ports.read}
    balance roundrobin
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
${servers('r')}
`;
}

describe(`HAProxy in front of the cluster (${DCS})`, () => {
  let cluster: LocalCluster;
  let haproxy: ServerProcess;
  let ports: { write: number; read: number; stats: number };
  const dir = mkdtempSync(join(tmpdir(), 'pgha-haproxy-'));

  /** The member whose PostgreSQL answered a fresh connection through `port`, and whether it is in recovery. */
  const through = async (port: number): Promise<{ member: string; inRecovery: boolean } | null> => {
    const rows = await query<{ port: number; r: boolean }>({ pgPort: port }, 'SELECT inet_server_port() AS port, pg_is_in_recovery() AS r', [], 3000).catch(() => null);
    const row = rows?.[0];
    if (!row) return null;
    return { member: cluster.members.find((m) => m.pgPort === Number(row.port))?.name ?? `port ${row.port}`, inRecovery: row.r };
  };
  /** The servers HAProxy's checks have UP in a proxy, from its stats CSV. */
  const upServers = async (proxy: 'primary' | 'replicas'): Promise<string[]> => {
    const csv = await fetch(`http://127.0.0.1:${ports.stats}/;csv`).then((r) => r.text(), () => '');
    return csv
      .split('\n')
      .map((l) => l.split(','))
      // `UP 1/2` (failing, not yet down) still takes connections; `DOWN 1/2` does not yet.
      .filter((f) => f[0] === proxy && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND' && f[17]?.startsWith('UP'))
      .map((f) => f[1]!.replace(/_[wr]$/, ''))
      .sort();
  };
  /** Until the checks have exactly `member` UP for writes (servers start UP until their checks fail). */
  const waitForWritesOn = async (member: MemberHandle) => {
    let last: string[] = [];
    await waitFor(`HAProxy's write backend to hold ${member.name} alone`, async () => (last = await upServers('primary')).join() === member.name, WAIT_MS).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; UP: ${JSON.stringify(last)}\n${haproxy.output().slice(-2000)}\n${diagnostics(cluster)}`);
    });
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, scope: 'haproxy', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 }, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
    const [write, read, stats] = await freePorts(3);
    ports = { write: write!, read: read!, stats: stats! };
    let pem: string | null = null;
    if (cluster.tls) {
      pem = join(dir, 'client.pem');
      writeFileSync(pem, `${cluster.tls.cert.toString()}\n${cluster.tls.key.toString()}`);
    }
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(cluster, ports, pem));
    haproxy = startProcess('/usr/sbin/haproxy', ['-db', '-f', cfg]);
  });

  afterAll(async () => {
    await haproxy?.stop(10_000);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends writes to the primary and reads to a replica', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForWritesOn(primary);
    expect(await through(ports.write)).toEqual({ member: primary.name, inRecovery: false });
    const replicas = cluster.members.filter((m) => m !== primary).map((m) => m.name).sort();
    await waitFor('the read backend to hold the replicas', async () => (await upServers('replicas')).join() === replicas.join(), WAIT_MS);
    // Round robin over both replicas, never the primary.
    const reads = [await through(ports.read), await through(ports.read)];
    expect(reads.map((r) => r?.inRecovery)).toEqual([true, true]);
    expect(reads.map((r) => r?.member).sort()).toEqual(replicas);
  });

  it('follows a switchover', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const candidate = cluster.members.find((m) => m !== primary)!;
    const res = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name }, 60_000);
    expect(res).toEqual({ status: 200, text: `Successfully switched over to "${candidate.name}"` });
    await waitForWritesOn(candidate);
    expect(await through(ports.write)).toEqual({ member: candidate.name, inRecovery: false });
  });

  it('follows a failover after the primary node crashes', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await primary.killAgent();
    primary.killPostmaster();
    const next = await cluster.waitForPrimary(WAIT_MS, primary.name);
    await waitForWritesOn(next);
    expect(await through(ports.write)).toEqual({ member: next.name, inRecovery: false });
    // Back as a replica, the old primary joins the read backend, not the write one.
    primary.start();
    await waitForStreaming(cluster, next);
    const replicas = cluster.members.filter((m) => m !== next).map((m) => m.name).sort();
    await waitFor('the old primary in the read backend', async () => (await upServers('replicas')).join() === replicas.join(), WAIT_MS);
    expect(await upServers('primary')).toEqual([next.name]);
  });
});
