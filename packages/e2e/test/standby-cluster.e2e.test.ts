/**
 * End-to-end, standby cluster (issue #9): a one-member source cluster and a two-member pgha
 * cluster with `standby_cluster` pointing at the source's primary, each with its own DCS (etcd, or ZooKeeper in `e2e-zookeeper`). The
 * standby cluster bootstraps by cloning the remote primary; its lock holder is the standby leader
 * (streams from the remote primary through `primary_slot_name`), the other member cascades from
 * it; failover inside the standby cluster moves that role, after a clean stop and after a node
 * crash of the standby leader (issue 20); `pghactl promote-cluster` (a `PATCH /config
 * {"standby_cluster": null}` on the leader) promotes it into a normal cluster. Outcomes only;
 * every wait is bounded generously.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { query, replicationStates, tryQuery } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { api, apiJson } from './support/rest.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const echo = process.env['PGHA_E2E_ECHO'] === '1';
const SLOT = 'standby_copy';
const TABLE = 'standby_probe';


const httpStatus = async (member: MemberHandle, path: string): Promise<number> =>
  (await api(member, 'GET', path, undefined, 2000).catch(() => null))?.status ?? 0;

describe(`standby cluster on ${DCS}`, () => {
  let source: LocalCluster;
  let standby: LocalCluster;
  let remote: MemberHandle;

  /** The standby cluster member reporting `standby_leader` and answering GET /standby-leader with 200. */
  async function standbyLeader(exclude?: string): Promise<MemberHandle> {
    let found: MemberHandle | undefined;
    await waitFor('a standby leader', async () => {
      for (const m of standby.members) {
        if (m.name === exclude || !m.agent) continue;
        const s = await m.status();
        if (s?.['role'] === 'standby_leader' && s['state'] === 'running' && (await httpStatus(m, '/standby-leader')) === 200) {
          found = m;
          return true;
        }
      }
      return false;
    }, WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics([source, standby])}`);
    });
    return found!;
  }

  /** Waits until `member` streams from the remote primary through the slot. */
  async function streamsFromRemote(member: MemberHandle): Promise<void> {
    await waitFor(`${member.name} streaming from the source primary through ${SLOT}`, async () => {
      const rows = await tryQuery<{ active: boolean; state: string | null }>(
        remote,
        `SELECT s.active, r.state FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1`,
        [SLOT],
      );
      const states = await replicationStates(remote);
      return rows?.[0]?.active === true && rows[0].state === 'streaming' && states.get(member.name) === 'streaming';
    }, WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics([source, standby])}`);
    });
  }

  let nextId = 0;
  async function insertOnSource(): Promise<number> {
    const rows = await query<{ id: string }>(remote, `INSERT INTO ${TABLE} (note) VALUES ('row ${++nextId}') RETURNING id`);
    return Number(rows[0]!.id);
  }

  beforeAll(async () => {
    source = await startLocalCluster({ members: 1, dcs: DCS, scope: 'source', timing: TIMING, dynamic: { slots: { [SLOT]: { type: 'physical' } } }, echo });
    remote = await source.waitForPrimary(WAIT_MS);
    await query(remote, `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, note text)`);
    await insertOnSource();
    standby = await startLocalCluster({
      dcs: DCS,
      members: 2,
      scope: 'standby',
      timing: TIMING,
      dynamic: { standby_cluster: { host: '127.0.0.1', port: remote.pgPort, primary_slot_name: SLOT } },
      echo,
    });
  });

  afterAll(async () => {
    await standby?.stop();
    await source?.stop();
  });

  it('clones the remote primary; the standby leader streams from it and the other member cascades', async () => {
    const leader = await standbyLeader();
    const other = standby.members.find((m) => m !== leader)!;
    expect(await httpStatus(leader, '/primary')).toBe(503);
    expect(await httpStatus(leader, '/leader')).toBe(200);
    await streamsFromRemote(leader);
    await waitForStreaming(standby, leader);
    // Same database system as the source: cloned, not initdb'd.
    const [sourceId] = await query<{ id: string }>(remote, 'SELECT system_identifier::text AS id FROM pg_control_system()');
    const [standbyId] = await query<{ id: string }>(other, 'SELECT system_identifier::text AS id FROM pg_control_system()');
    expect(standbyId!.id).toBe(sourceId!.id);
    const id = await insertOnSource();
    for (const m of standby.members) await waitForRow(m, TABLE, id);
    expect(await tryQuery(leader, `INSERT INTO ${TABLE} (note) VALUES ('must fail')`)).toBeNull();
  });

  it('failover inside the standby cluster moves the standby leader role', async () => {
    const old = await standbyLeader();
    await old.stop();
    const next = await standbyLeader(old.name);
    await streamsFromRemote(next);
    const id = await insertOnSource();
    await waitForRow(next, TABLE, id);
    old.start();
    await waitForStreaming(standby, next);
    await waitForRow(old, TABLE, id);
  });

  it('a node crash of the standby leader (agent and postmaster killed): the other member takes the role once the lock lapses, and the crashed node cascades from it', async () => {
    const old = await standbyLeader();
    await old.killAgent();
    old.killPostmaster();
    const next = await standbyLeader(old.name);
    await streamsFromRemote(next);
    const id = await insertOnSource();
    await waitForRow(next, TABLE, id);
    // Still a standby: the new standby leader refuses writes.
    expect(await tryQuery(next, `INSERT INTO ${TABLE} (note) VALUES ('must fail')`)).toBeNull();
    old.start();
    await waitForStreaming(standby, next);
    await waitForRow(old, TABLE, id);
  });

  it('pghactl promote-cluster (patronictl 4.1) removes standby_cluster from the DCS config and promotes the standby leader', async () => {
    const leader = await standbyLeader();
    const res = await pghactl(leader, ['promote-cluster', 'standby', '--force']);
    expect([res.code, res.stderr]).toEqual([0, '']);
    expect(res.stdout).toMatch(/ cluster is successfully promoted\n/);
    expect(await apiJson<Record<string, unknown>>(leader, '/config')).not.toHaveProperty('standby_cluster');
    const primary = await standby.waitForPrimary(WAIT_MS);
    expect(primary.name).toBe(leader.name);
    await query(primary, `INSERT INTO ${TABLE} (note) VALUES ('written in the promoted cluster')`);
    await waitForStreaming(standby, primary);
    expect(await httpStatus(primary, '/standby-leader')).toBe(503);
  });
});
