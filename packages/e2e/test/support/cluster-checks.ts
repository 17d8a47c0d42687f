/**
 * Outcome checks on a running cluster: who is primary, who streams from whom. Each waits with a
 * generous bound, so a broken feature fails the test instead of hanging it; none measures time.
 */
import { waitFor } from '@pgha/test-servers';
import type { LocalCluster, MemberHandle } from '@pgha/local-cluster';
import { replicationStates, tryQuery } from '@pgha/workload';

export const WAIT_MS = 120_000;

/**
 * The last lines of every member's agent output, for a failure message. With several clusters
 * (a standby cluster and its source) each member is named with its cluster's scope.
 */
export function diagnostics(clusters: LocalCluster | readonly LocalCluster[], lines = 40): string {
  const list: readonly LocalCluster[] = Array.isArray(clusters) ? clusters : [clusters as LocalCluster];
  return list
    .flatMap((c) => c.members.map((m) => `--- ${list.length > 1 ? `${c.scope}/` : ''}${m.name}\n${tail(m, lines)}`))
    .join('\n');
}

/** The primary holding the lock (other than `exclude`), once every other member streams from it. */
export async function healthyPrimary(cluster: LocalCluster, exclude?: string): Promise<MemberHandle> {
  const primary = await cluster.waitForPrimary(WAIT_MS, exclude).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
  });
  await waitForStreaming(cluster, primary).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
  });
  return primary;
}

/** Waits until every member other than `primary` streams from it. */
export async function waitForStreaming(cluster: LocalCluster, primary: MemberHandle, timeoutMs = WAIT_MS): Promise<void> {
  const others = cluster.members.filter((m) => m !== primary).map((m) => m.name);
  let seen = new Map<string, string>();
  await waitFor(
    `${others.join(', ')} streaming from ${primary.name}`,
    async () => {
      seen = await replicationStates(primary);
      return others.every((name) => seen.get(name) === 'streaming');
    },
    timeoutMs,
    250,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; walsenders on ${primary.name}: ${JSON.stringify([...seen])}`);
  });
}

/** True when the member's PostgreSQL answers and is in recovery (a replica). */
export async function isReplica(member: MemberHandle): Promise<boolean> {
  const rows = await tryQuery<{ r: boolean }>(member, 'SELECT pg_is_in_recovery() AS r');
  return rows?.[0]?.r === true;
}

/** Waits until a row with `id` in `table` is visible on `member`. */
export async function waitForRow(member: MemberHandle, table: string, id: number, timeoutMs = WAIT_MS): Promise<void> {
  await waitFor(
    `row ${id} of ${table} on ${member.name}`,
    async () => ((await tryQuery(member, `SELECT 1 FROM ${table} WHERE id = $1`, [id])) ?? []).length === 1,
    timeoutMs,
    250,
  );
}

/** The agent's output, for a failure message (the last lines are the useful ones). */
export function tail(member: MemberHandle, lines = 40): string {
  return member.output().split('\n').slice(-lines).join('\n');
}
