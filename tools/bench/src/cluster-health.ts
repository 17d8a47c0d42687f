/** Small helpers the benchmark scripts share: one SQL query on a member, waiting for a healthy cluster, a node crash. */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { SUPERUSER, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import type { Commit, Writer } from './writer.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function sql(member: MemberHandle, text: string): Promise<pg.QueryResultRow[]> {
  const c = new pg.Client({ host: '127.0.0.1', port: member.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres', connectionTimeoutMillis: 2000, query_timeout: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.query(text)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The primary, once every other member streams from it. */
export async function healthy(cluster: LocalCluster, timeoutMs = 300_000): Promise<MemberHandle> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const primary = await cluster.waitForPrimary(Math.max(1000, deadline - Date.now()));
    const rows = await sql(primary, 'SELECT application_name, state FROM pg_stat_replication').catch(() => []);
    const streaming = new Set(rows.filter((r) => r['state'] === 'streaming').map((r) => String(r['application_name'])));
    if (cluster.members.every((m) => m === primary || streaming.has(m.name))) return primary;
    if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms (streaming: ${[...streaming].join(',')})`);
    await sleep(250);
  }
}

/** Wall-clock times at which the leader key was deleted (lease expiry), from `etcdctl watch`. */
export function watchLeaderDeletes(cluster: LocalCluster): { deletes: number[]; stop(): void } {
  const deletes: number[] = [];
  const child = spawn('etcdctl', ['--endpoints', cluster.dcs.endpoints.join(','), 'watch', `/service/${cluster.scope}/leader`], {
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
 * A node crash of the primary: kill -9 of its agent, then of its postmaster, and wait until the
 * writer commits on another member. Returns the kill time, that first commit and the leader key's
 * expiry (when the etcd watch saw it). The caller restarts the crashed member.
 */
export async function crashPrimary(
  cluster: LocalCluster,
  writer: Writer,
  watch: { deletes: number[] },
): Promise<{ primary: MemberHandle; t0: number; back: Commit; expiry: number | undefined }> {
  const primary = await healthy(cluster);
  await sleep(2000);
  const t0 = Date.now();
  await primary.killAgent();
  primary.killPostmaster();
  await waitFor('writes on a new primary', async () => {
    const c = writer.recoveredAfter(t0);
    return c !== undefined && c.member !== primary.name;
  }, 300_000, 50);
  const back = writer.recoveredAfter(t0)!;
  return { primary, t0, back, expiry: watch.deletes.find((d) => d >= t0) };
}
