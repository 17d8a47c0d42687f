/**
 * Checks on a cluster of Patroni and pgha members (issue 17): which agent answers a member's API,
 * what Patroni's own `patronictl` and pgha's `pghactl` list, the timeline history, and what the
 * client's record says about lost commits and write pauses.
 */
import { execFile } from 'node:child_process';
import { SUPERUSER, openClusterStore, type AgentKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { ACKED_TABLE, longestGap, query, type AckedCommit } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForStreaming } from './cluster-checks.js';
import { pghactl } from './pghactl.js';

/** Patroni's patronictl (Debian's 3.0.2) on the member's own YAML; stdout+stderr whatever the exit code. */
export function patronictl(cluster: LocalCluster, member: MemberHandle, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      '/usr/bin/patronictl',
      ['-c', member.configPath, ...args],
      { timeout: 120_000, env: { ...process.env, HOME: cluster.root, PGPASSWORD: SUPERUSER.password, PAGER: 'cat' } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/**
 * Which agent answers the member's API, told by the HTTP `Server` header: Patroni's Python server
 * sends `BaseHTTP/0.6 Python/3.x`, pgha none (its default `server_tokens: original`). Null when
 * nothing answers. So a test checks the process it talks to, not the harness's bookkeeping.
 */
export async function agentBehind(member: MemberHandle): Promise<AgentKind | null> {
  const answer = await member.request('GET', '/patroni', undefined, 5000).catch(() => null);
  if (!answer) return null;
  return String(answer.headers['server'] ?? '').includes('Python') ? 'patroni' : 'pgha';
}

/** One row of `list -f json` (patronictl's column names; pghactl prints the same). */
export interface ListedMember {
  Member: string;
  Role: string;
  State: string;
  TL?: number | string;
  'Lag in MB'?: number | string;
}

/** `patronictl list -f json` (or pghactl's), parsed; throws with the output when it fails. */
export async function listMembers(cluster: LocalCluster, via: MemberHandle, tool: 'patronictl' | 'pghactl'): Promise<ListedMember[]> {
  const { code, out } =
    tool === 'patronictl'
      ? await patronictl(cluster, via, ['list', '-f', 'json'])
      : await pghactl(via, ['list', '-f', 'json']).then((r) => ({ code: r.code ?? 1, out: `${r.stdout}${r.stderr}` }));
  if (code !== 0) throw new Error(`${tool} list on ${via.name} exited ${code}: ${out}`);
  return JSON.parse(out.slice(out.indexOf('['))) as ListedMember[];
}

/**
 * Waits until the cluster has settled around `primary`: every other member streams from it, and
 * patronictl lists every member, the leader as `Leader` and the others `running` or `streaming`
 * on the leader's timeline. Returns that listing (for the test's own assertions).
 */
export async function settled(cluster: LocalCluster, primary: MemberHandle): Promise<ListedMember[]> {
  await waitForStreaming(cluster, primary).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
  });
  let listed: ListedMember[] = [];
  const healthy = (rows: ListedMember[]) => {
    const leader = rows.find((r) => r.Role === 'Leader');
    return (
      rows.length === cluster.members.length &&
      leader?.Member === primary.name &&
      rows.every((r) => r.Role === 'Leader' || ['running', 'streaming'].includes(r.State)) &&
      rows.every((r) => String(r.TL) === String(leader.TL))
    );
  };
  await waitFor('patronictl to list every member around the primary', async () => healthy((listed = await listMembers(cluster, primary, 'patronictl'))), WAIT_MS, 500).catch(
    (e: unknown) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(listed)}\n${diagnostics(cluster)}`);
    },
  );
  return listed;
}

/** What the client's record says once it has stopped, checked on `primary`'s table. */
export interface CommitRecord {
  acked: number;
  lost: number[];
  /** Longest time between two consecutive acknowledged commits, ms. */
  longestGapMs: number;
  byMember: Record<string, number>;
}

export async function commitRecord(primary: MemberHandle, acked: readonly AckedCommit[]): Promise<CommitRecord> {
  const rows = await query<{ id: string }>(primary, `SELECT id FROM ${ACKED_TABLE}`);
  const present = new Set(rows.map((r) => Number(r.id)));
  const byMember: Record<string, number> = {};
  for (const c of acked) byMember[c.member] = (byMember[c.member] ?? 0) + 1;
  return {
    acked: acked.length,
    lost: acked.filter((c) => !present.has(c.id)).map((c) => c.id),
    longestGapMs: acked.length > 1 ? longestGap(acked, acked[0]!.sentAt, Infinity) : 0,
    byMember,
  };
}

/** The DCS `history` key as pgha's parser reads it: [timeline, new leader] per switch. */
export async function timelineHistory(cluster: LocalCluster): Promise<{ timeline: number; lsn: number; newLeader?: string }[]> {
  const store = await openClusterStore(cluster);
  try {
    const history = (await store.loadCluster()).history?.value ?? [];
    return history.map((h) => ({ timeline: h.timeline, lsn: h.lsn, ...(h.new_leader ? { newLeader: h.new_leader } : {}) }));
  } finally {
    await store.close();
  }
}

/** Each member's timeline, as its own API reports it. */
export async function memberTimelines(cluster: LocalCluster): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const m of cluster.members) out[m.name] = (await m.status())?.['timeline'] ?? null;
  return out;
}
