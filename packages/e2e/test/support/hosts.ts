/**
 * What the members-as-hosts e2e files (hosts, hosts-2) check, once: a cluster in network
 * namespaces (`startHostCluster`), a prober and an acknowledged-commit writer on it.
 */
import type { HostCluster, MemberHandle } from '@pgha/local-cluster';
import { ACKED_TABLE, ACKED_TABLE_DDL, PROBE_TABLE_DDL, query, startProber, startWriter, type Prober, type Writer } from '@pgha/workload';

export const HOST_TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
export const HOST_PARAMETERS = {
  wal_level: 'replica', hot_standby: 'on', wal_log_hints: 'on', max_wal_senders: 10, max_replication_slots: 10,
  wal_keep_size: '64MB', max_connections: 50,
  // A silently dropped connection is noticed in seconds, not PostgreSQL's default minute.
  wal_receiver_timeout: '5s', wal_sender_timeout: '5s',
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` (a failed probe counts as false) until true; throws after `timeoutMs`. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// A fenced primary still calls itself `master` with PostgreSQL stopped: only a running one counts.
const isPrimary = (s: Record<string, unknown> | null) => (s?.['role'] === 'master' || s?.['role'] === 'primary') && s['state'] === 'running';

export function hostChecks(cluster: () => HostCluster, writer: () => Writer) {
  return {
    /** Every member but the primary streams from it, as the primary's API reports. */
    async allStreaming(primary: MemberHandle): Promise<boolean> {
      const s = await primary.status();
      const replication = (s?.['replication'] as { application_name: string; state: string }[] | undefined) ?? [];
      return cluster().members.every((m) => m === primary || replication.some((r) => r.application_name === m.name && r.state === 'streaming'));
    },

    /** Polls every member's role for `ms`: the names that reported themselves primary. */
    async primariesDuring(ms: number): Promise<Set<string>> {
      const { members } = cluster();
      const seen = new Set<string>();
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const statuses = await Promise.all(members.map((m) => m.status()));
        statuses.forEach((s, i) => isPrimary(s) && seen.add(members[i]!.name));
        await sleep(500);
      }
      return seen;
    },

    /** Acknowledged commits the member's table lacks. */
    async lostOn(primary: MemberHandle): Promise<number[]> {
      const since = Date.now();
      await waitUntil('a commit acknowledged by the primary', async () => writer().acked().some((c) => c.sentAt >= since), 60_000);
      // The commits acknowledged before the read: one acknowledged after it is not in its snapshot.
      const acked = [...writer().acked()];
      const rows = await query<{ id: string }>(cluster().pgTarget(primary), `SELECT id::text AS id FROM ${ACKED_TABLE}`);
      const have = new Set(rows.map((r) => Number(r.id)));
      const lost = acked.filter((c) => !have.has(c.id));
      // What a loss looks like, for the report: the commits, and the writer's failures around them.
      if (lost.length > 0) console.log(`hosts: lost ${JSON.stringify(lost)}; writer failures ${JSON.stringify(writer().failures().filter((f) => f >= lost[0]!.sentAt - 5000).slice(0, 5))}`);
      return lost.map((c) => c.id);
    },
  };
}

/**
 * Once every replica streams: the tables on the primary, seen on every member, then a writer of
 * acknowledged commits and a prober on every member, running from the first acknowledged commit.
 */
export async function startHostWorkload(cluster: HostCluster, primary: MemberHandle, allStreaming: (p: MemberHandle) => Promise<boolean>): Promise<{ writer: Writer; prober: Prober }> {
  await waitUntil('every replica streaming', () => allStreaming(primary), 120_000);
  await query(cluster.pgTarget(primary), ACKED_TABLE_DDL);
  await query(cluster.pgTarget(primary), PROBE_TABLE_DDL);
  const targets = cluster.members.map((m) => cluster.pgTarget(m));
  for (const t of targets) await waitUntil(`the tables on ${t.name}`, () => query(t, `SELECT 1 FROM ${ACKED_TABLE} LIMIT 1`).then(() => true), 60_000);
  const writer = startWriter(targets);
  const prober = startProber(targets);
  await waitUntil('the first acknowledged commit', async () => writer.acked().length > 0, 60_000);
  return { writer, prober };
}
