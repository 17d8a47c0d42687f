/**
 * Issue 15 (review M5), end to end on one three-member etcd cluster: a leader key naming a
 * member that does not exist. It is written with etcdctl over the real leader's key, without a
 * lease, so it never expires and nobody can take it. The real primary's next renewal finds the
 * key is not its own and demotes; with nobody to stream from, it must run on as a read-only
 * standby (standby.signal, no primary_conninfo) rather than stay stopped, and say why in its
 * cycle's reason. When the key is deleted, the members elect a leader again; a row written
 * before is still there, and at no time do two members accept writes.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, diagnostics, isReplica, tail, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { etcdctl, keyPath } from './support/etcd-keys.js';
import { PROBE_TABLE_DDL, query, splitBrainWindows, startProber, tryQuery, type Prober } from '@pgha/workload';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const TABLE = 'orphan_rows';
const GHOST = 'ghost';
const echo = process.env['PGHA_E2E_ECHO'] === '1';


/** The settings of `primary_conninfo` the member's PostgreSQL runs with ('' = none). */
async function primaryConninfo(member: MemberHandle): Promise<string | null> {
  const rows = await tryQuery<{ v: string }>(member, "SELECT pg_catalog.current_setting('primary_conninfo') AS v");
  return rows?.[0]?.v ?? null;
}

describe('a leader key naming a member that does not exist, on etcd', () => {
  let cluster: LocalCluster;
  let prober: Prober;
  let rowId: number;

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 3, scope: 'orphan', timing: TIMING, dcs: 'etcd', echo });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    await query(primary, `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, note text)`);
    await query(primary, PROBE_TABLE_DDL);
    const [row] = await query<{ id: string }>(primary, `INSERT INTO ${TABLE} (note) VALUES ('before the orphan key') RETURNING id`);
    rowId = Number(row!.id);
    for (const m of cluster.members) await waitForRow(m, TABLE, rowId);
    prober = startProber(cluster.members, { intervalMs: 100 });
  }, 300_000);

  afterAll(async () => {
    await prober?.stop();
    await cluster?.stop();
  }, 120_000);

  it('the old primary runs on read-only, following nobody, and says why; deleting the key brings a leader back with nothing lost', async () => {
    const old = await cluster.waitForPrimary(WAIT_MS);
    // Over the real leader's key, without a lease: it never expires and no member can take it.
    await etcdctl(cluster, 'put', keyPath(cluster, 'leader'), GHOST);

    // Which of two reasons the demote gives depends on the race between the put and the
    // primary's cycle: a cycle that reads the ghost's key says who holds it; one that read its
    // own key just before finds its renewal refused. Both demote to a server following nobody.
    const reasons = [
      `demoting self because I do not have the lock and I was a leader; following nobody (read-only) because member ${GHOST} does not exist`,
      'demoted self because failed to update leader lock in DCS',
    ];
    const demoted = () => reasons.some((r) => old.output().includes(r));
    await waitFor(`${old.name} demoting and saying why`, async () => demoted(), WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    await waitFor(`${old.name} running again, in recovery`, () => isReplica(old), WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(old)}`);
    });
    // Later cycles keep it running and keep saying why it streams from nobody.
    const later = `no action. I am (${old.name}), a secondary, and following a leader (${GHOST}); not streaming from it because member ${GHOST} does not exist`;
    await waitFor(`${old.name}'s later cycles`, async () => old.output().includes(later), WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(old)}`);
    });
    expect(await isReplica(old)).toBe(true);
    expect(await primaryConninfo(old)).toBe('');
    expect((await tryQuery(old, `SELECT 1 FROM ${TABLE} WHERE id = $1`, [rowId]))?.length).toBe(1);
    expect(old.output()).not.toContain('has no usable conn_url');
    // While the orphan key stands, nobody accepts writes.
    // Every member refuses the probe outright (read-only), not merely fails to answer it.
    await waitFor('every member refusing writes', async () => cluster.members.every((m) => prober.lastOutcome(m.name) === 'refused'), WAIT_MS, 250);
    expect(prober.writableNow()).toEqual([]);

    await etcdctl(cluster, 'del', keyPath(cluster, 'leader'));
    const next = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, next).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    expect((await query(next, `SELECT note FROM ${TABLE} WHERE id = $1`, [rowId]))).toEqual([{ note: 'before the orphan key' }]);
    const [after] = await query<{ id: string }>(next, `INSERT INTO ${TABLE} (note) VALUES ('after the key was deleted') RETURNING id`);
    for (const m of cluster.members) await waitForRow(m, TABLE, Number(after!.id));
    expect(splitBrainWindows(prober.intervals()), 'times when two members accepted writes').toEqual([]);
  }, 600_000);
});
