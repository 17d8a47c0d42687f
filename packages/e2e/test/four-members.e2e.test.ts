/**
 * End-to-end: one four-member cluster (issue #8; etcd, or ZooKeeper in `e2e-zookeeper`). pg0 bootstraps (the others have no
 * `bootstrap` section); pg1 is tagged `nofailover`, pg2 `failover_priority: 2`, pg3
 * `failover_priority: 1`. Synchronous replication with two standbys, quorum over all three,
 * a synchronous standby replaced when it stops, then two primary crashes decided by the
 * failover priorities, with `maximum_lag_on_failover` given as a replay time (`10s`).
 * Outcomes only, every wait bounded; no duration is asserted.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { standbysOf, type SyncKey } from './support/etcd-keys.js';
import { closeRawKeys, readJsonKey } from './support/raw-keys.js';
import { query, tryQuery } from '@pgha/workload';
import { WAIT_MS, diagnostics, isReplica, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { api } from './support/rest.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const STEP_MS = 60_000;

interface SyncState {
  key: SyncKey | null;
  names: string;
  states: Record<string, string>;
}

describe(`four members: synchronous standbys and failover priorities on ${DCS}`, () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;
  let nextId = 1;
  /** Moments the nofailover member was seen running as a primary (must stay empty). */
  const nofailoverPromoted: string[] = [];
  /** How often it answered as a replica (so the watch above is not vacuous). */
  let nofailoverSeenReplica = 0;
  let watchNofailover: ReturnType<typeof setInterval> | undefined;

  const member = (name: string): MemberHandle => cluster.members.find((m) => m.name === name)!;
  const replicas = () => cluster.members.filter((m) => m !== primary);

  const syncKey = () => readJsonKey<SyncKey>(cluster, 'sync');

  const patchConfig = async (patch: Record<string, unknown>): Promise<void> => {
    const res = await api(primary, 'PATCH', '/config', patch);
    expect(res.status, res.text).toBe(200);
  };

  /** Waits until the primary's setting, walsenders and the sync key all say what `check` wants. */
  const waitForSyncState = async (what: string, check: (s: SyncState) => boolean): Promise<SyncState> => {
    let last: SyncState | null = null;
    await waitFor(
      what,
      async () => {
        const names = (await tryQuery<{ s: string }>(primary, 'SELECT current_setting($1) AS s', ['synchronous_standby_names']))?.[0]?.s ?? '?';
        const rows = (await tryQuery<{ application_name: string; sync_state: string }>(primary, 'SELECT application_name, sync_state FROM pg_stat_replication')) ?? [];
        last = { key: await syncKey(), names, states: Object.fromEntries(rows.map((r) => [r.application_name, r.sync_state])) };
        return check(last);
      },
      STEP_MS,
      250,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last seen ${JSON.stringify(last)}\n${diagnostics(cluster, 25)}`);
    });
    return last!;
  };

  /** Writes a row and waits until every running replica has replayed all the primary wrote. */
  const settle = async (running: MemberHandle[]): Promise<number> => {
    const id = nextId++;
    await query(primary, 'INSERT INTO four_rows VALUES ($1, $2)', [id, `on ${primary.name}`]);
    for (const m of running) await waitForRow(m, 'four_rows', id, STEP_MS);
    // Equal positions, so the failover is decided by priority: every walsender has replayed the
    // primary's current position (nothing is written meanwhile).
    await waitFor(
      'every replica to have replayed the primary position',
      async () => {
        const rows = await tryQuery<{ name: string; behind: boolean }>(
          primary,
          'SELECT application_name AS name, replay_lsn < pg_current_wal_lsn() AS behind FROM pg_stat_replication',
        );
        return rows !== null && running.every((m) => rows.some((r) => r.name === m.name && r.behind === false));
      },
      STEP_MS,
      100,
    );
    return id;
  };

  const crashPrimary = async (): Promise<MemberHandle> => {
    const old = primary;
    await old.killAgent();
    old.killPostmaster();
    const next = await cluster.waitForPrimary(WAIT_MS, old.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 25)}`);
    });
    primary = next;
    return old;
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({
      members: 4,
      dcs: DCS,
      timing: TIMING,
      dynamic: { maximum_lag_on_failover: '10s' },
      tags: { 1: { nofailover: true }, 2: { failover_priority: 2 }, 3: { failover_priority: 1 } },
      // Only pg0 may initialise the cluster, so the roles of the others are known in advance.
      extra: { 1: { bootstrap: undefined }, 2: { bootstrap: undefined }, 3: { bootstrap: undefined } },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    // The nofailover member must never accept writes, whatever happens below.
    watchNofailover = setInterval(() => {
      void tryQuery<{ r: boolean }>(member('pg1'), 'SELECT pg_is_in_recovery() AS r').then((rows) => {
        if (rows?.[0]?.r === false) nofailoverPromoted.push(new Date().toISOString());
        if (rows?.[0]?.r === true) nofailoverSeenReplica++;
      });
    }, 250);
  });

  afterAll(async () => {
    if (watchNofailover) clearInterval(watchNofailover);
    if (cluster) await closeRawKeys(cluster);
    await cluster?.stop();
  });

  it('bootstraps pg0 with three streaming replicas', async () => {
    primary = await cluster.waitForPrimary(WAIT_MS);
    expect(primary.name).toBe('pg0');
    await waitForStreaming(cluster, primary);
    await query(primary, 'CREATE TABLE four_rows (id int PRIMARY KEY, note text)');
    const id = await settle(replicas());
    for (const m of replicas()) expect(await tryQuery(m, 'SELECT note FROM four_rows WHERE id = $1', [id])).toEqual([{ note: 'on pg0' }]);
    // `10s` was read as a replay-time limit, not rejected as a bad value.
    for (const m of cluster.members) expect(m.output()).not.toContain('maximum_lag_on_failover:');
  });

  it('synchronous_node_count 2: two of the three replicas synchronous and published; then quorum ANY 2 over all three', async () => {
    await patchConfig({ synchronous_mode: 'on', synchronous_node_count: 2 });
    const on = await waitForSyncState('two synchronous standbys, published', ({ key, names, states }) => {
      const listed = standbysOf(key);
      return key?.leader === primary.name && listed.length === 2 && listed.every((n) => states[n] === 'sync') && /^2 \(/.test(names);
    });
    const listed = standbysOf(on.key);
    const other = replicas().find((m) => !listed.includes(m.name))!;
    expect(on.states[other.name]).toBe('async');
    expect(on.names.replace(/^2 \((.*)\)$/, '$1').split(',').sort()).toEqual(listed);

    await patchConfig({ synchronous_mode: 'quorum' });
    const all = replicas().map((m) => m.name).sort();
    const quorum = await waitForSyncState('ANY 2 over all three replicas', ({ key, names, states }) =>
      /^ANY 2 \(/.test(names) && standbysOf(key).join() === all.join() && all.every((n) => states[n] === 'quorum'),
    );
    expect(quorum.names.replace(/^ANY 2 \((.*)\)$/, '$1').split(',').sort()).toEqual(all);
    // A candidate needs the vote of one more listed standby: any two of three overlap any two
    // that acknowledged a commit.
    expect(quorum.key?.quorum).toBe(1);
  });

  it('a stopped synchronous standby leaves the sync key, another replica takes its place, and it streams again when started', async () => {
    await patchConfig({ synchronous_mode: 'on', synchronous_node_count: 2 });
    const before = await waitForSyncState('two synchronous standbys, published (on)', ({ key, names, states }) => {
      const listed = standbysOf(key);
      return key?.leader === primary.name && listed.length === 2 && listed.every((n) => states[n] === 'sync') && /^2 \(/.test(names);
    });
    const [stoppedName, keptName] = standbysOf(before.key) as [string, string];
    const spare = replicas().find((m) => m.name !== stoppedName && m.name !== keptName)!;
    const stopped = member(stoppedName);
    await stopped.stop();
    const after = await waitForSyncState(`${spare.name} synchronous instead of ${stoppedName}`, ({ key, states }) => {
      const listed = standbysOf(key);
      return listed.join() === [keptName, spare.name].sort().join() && states[spare.name] === 'sync' && states[keptName] === 'sync';
    });
    expect(standbysOf(after.key)).not.toContain(stoppedName);
    stopped.start();
    await waitForStreaming(cluster, primary);
    expect(await isReplica(stopped)).toBe(true);
  });

  it('sync off; the primary crashes: the failover_priority 2 member wins, the old primary rejoins', async () => {
    await patchConfig({ synchronous_mode: 'off', synchronous_node_count: 1 });
    await waitForSyncState('no synchronous replication', ({ key, names, states }) =>
      key === null && names === '' && Object.values(states).length === 3 && Object.values(states).every((st) => st === 'async'),
    );
    const id = await settle(replicas());
    const old = await crashPrimary();
    expect(primary.name).toBe('pg2');
    expect(await tryQuery(primary, 'SELECT note FROM four_rows WHERE id = $1', [id])).toEqual([{ note: 'on pg0' }]);

    old.start();
    await waitForStreaming(cluster, primary);
    expect(await isReplica(old)).toBe(true);
    expect(nofailoverPromoted).toEqual([]);
  });

  it('the primary crashes again: the remaining failover_priority member wins, never the nofailover one', async () => {
    // pg0 has the default priority 1, like pg3: stopped first, so the outcome does not rest on a tie.
    await member('pg0').stop();
    const id = await settle([member('pg1'), member('pg3')]);
    const old = await crashPrimary();
    expect(primary.name).toBe('pg3');
    expect(await tryQuery(primary, 'SELECT note FROM four_rows WHERE id = $1', [id])).toEqual([{ note: 'on pg2' }]);

    // Both come back as replicas of the new primary.
    old.start();
    member('pg0').start();
    await waitForStreaming(cluster, primary);
    expect(await isReplica(member('pg1'))).toBe(true);
    expect(nofailoverSeenReplica).toBeGreaterThan(0);
    expect(nofailoverPromoted).toEqual([]);
  });
});
