/** Small helpers the benchmark scripts share: one SQL query on a member, waiting for a healthy cluster, a node crash. */
import { spawn } from 'node:child_process';
import type pg from 'pg';
import type { LocalCluster, MemberHandle } from '@pgha/local-cluster';
import { waitFor, zooKeeperFourLetter } from '@pgha/test-servers';
import { query, recoveredAfter, replicationStates, type AckedCommit, type Writer } from '@pgha/workload';

import { sleep } from '@pgha/primitives';

export { sleep };

/** One statement on the member, with the benchmarks' 2 s client deadline. */
export async function sql(member: MemberHandle, text: string): Promise<pg.QueryResultRow[]> {
  return query(member, text, [], 2000);
}

/** The primary, once every other member streams from it. */
export async function healthy(cluster: LocalCluster, timeoutMs = 300_000): Promise<MemberHandle> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const primary = await cluster.waitForPrimary(Math.max(1000, deadline - Date.now()));
    const streaming = new Set([...(await replicationStates(primary))].filter(([, state]) => state === 'streaming').map(([name]) => name));
    if (cluster.members.every((m) => m === primary || streaming.has(m.name))) return primary;
    if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms (streaming: ${[...streaming].join(',')})`);
    await sleep(250);
  }
}

/**
 * Wall-clock times at which the leader key was deleted (lease or session expiry). On etcd from
 * `etcdctl watch`; on ZooKeeper by asking the server for its ephemeral nodes (`dump`) every 20 ms,
 * so that point is up to 20 ms late there. etcd itself revokes expired leases in a periodic sweep,
 * so on both the deletion is seen somewhat after the ttl ran out, for both agents alike.
 */
export function watchLeaderDeletes(cluster: LocalCluster): { deletes: number[]; stop(): void } {
  const deletes: number[] = [];
  const leaderKey = `/service/${cluster.scope}/leader`;
  if (cluster.dcs.kind === 'zookeeper') {
    const port = Number(cluster.dcs.endpoints[0]!.split(':').pop());
    let stopped = false;
    let present: boolean | null = null;
    void (async () => {
      while (!stopped) {
        try {
          const dump = await zooKeeperFourLetter(port, 'dump', 1000);
          const now = dump.split('\n').some((line) => line.trim() === leaderKey);
          if (present === true && !now) deletes.push(Date.now());
          present = now;
        } catch {
          present = null;
        }
        await sleep(20);
      }
    })();
    return { deletes, stop: () => void (stopped = true) };
  }
  const child = spawn('etcdctl', ['--endpoints', cluster.dcs.endpoints.join(','), 'watch', leaderKey], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) if (line.trim() === 'DELETE') deletes.push(Date.now());
  });
  return { deletes, stop: () => void child.kill('SIGKILL') };
}

/**
 * DCS requests served so far, all clients together: etcd's gRPC calls handled (its /metrics;
 * Patroni's JSON gateway calls go through the same gRPC server), or the packets a ZooKeeper
 * server received (`mntr`). Differences over a window give requests per minute.
 */
export async function dcsRequestCount(cluster: LocalCluster): Promise<number | null> {
  try {
    if (cluster.dcs.kind === 'zookeeper') {
      const mntr = await zooKeeperFourLetter(Number(cluster.dcs.endpoints[0]!.split(':').pop()), 'mntr', 2000);
      const m = /^zk_packets_received\s+(\d+)/m.exec(mntr);
      return m ? Number(m[1]) : null;
    }
    const text = await (await fetch(`${cluster.dcs.endpoints[0]}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('grpc_server_handled_total{')) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  } catch {
    return null;
  }
}

/**
 * A node crash of the primary: kill -9 of its agent, then of its postmaster, and wait until the
 * writer commits on another member. Returns the kill time, that first commit and the leader key's
 * expiry (when the etcd watch saw it). The caller restarts the crashed member.
 */
export async function crashPrimary(
  cluster: LocalCluster,
  writer: Writer,
  watch: { deletes: number[] },
): Promise<{ primary: MemberHandle; t0: number; back: AckedCommit; expiry: number | undefined }> {
  const primary = await healthy(cluster);
  await sleep(2000);
  const t0 = Date.now();
  await primary.killAgent();
  primary.killPostmaster();
  await waitFor('writes on a new primary', async () => {
    const c = recoveredAfter(writer, t0);
    return c !== undefined && c.member !== primary.name;
  }, 300_000, 50);
  const back = recoveredAfter(writer, t0)!;
  return { primary, t0, back, expiry: watch.deletes.find((d) => d >= t0) };
}

/**
 * A switchover on a healthy cluster: POST /switchover from the primary to another member, after
 * 2 s of steady writes; returns when the call answered and the cluster is healthy again.
 */
export async function switchoverPrimary(
  cluster: LocalCluster,
): Promise<{ primary: MemberHandle; candidate: MemberHandle; t0: number; t1: number; status: number; text: string }> {
  const primary = await healthy(cluster);
  const candidate = cluster.members.find((m) => m !== primary)!;
  await sleep(2000);
  const t0 = Date.now();
  const res = await fetch(`${primary.apiUrl}/switchover`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ leader: primary.name, candidate: candidate.name }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  const t1 = Date.now();
  await healthy(cluster);
  return { primary, candidate, t0, t1, status: res.status, text };
}
