/**
 * End-to-end: synchronous replication (issue #8) on one three-member cluster, switched at run
 * time through the DCS `config` key — by `PATCH /config`, and once by writing the key straight
 * into the store (etcdctl or zkCli, as the seed manual does). At each step the `sync` key,
 * `synchronous_standby_names` and `pg_stat_replication.sync_state` on the primary are checked;
 * strict mode is shown to hold commits while no standby is synchronous; a failover with
 * synchronous mode on promotes the member the `sync` key named. Outcomes only, every wait bounded; no duration is asserted.
 *
 * Runs on etcd in the `e2e` project and on ZooKeeper in `e2e-zookeeper` (support/store.ts);
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { standbysOf, type SyncKey } from './support/etcd-keys.js';
import { closeRawKeys, readJsonKey, writeJsonKey } from './support/raw-keys.js';
import { e2eStore } from './support/store.js';
import { connect, query, tryQuery } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { api } from './support/rest.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const STEP_MS = 60_000;

describe(`synchronous replication switched at run time on ${e2eStore()}`, () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;
  let nextId = 1;

  const syncKey = () => readJsonKey<SyncKey>(cluster, 'sync');

  const patchConfig = async (patch: Record<string, unknown>): Promise<void> => {
    const res = await api(primary, 'PATCH', '/config', patch);
    expect(res.status, res.text).toBe(200);
  };

  const standbyNames = async (): Promise<string> =>
    (await query<{ synchronous_standby_names: string }>(primary, 'SHOW synchronous_standby_names'))[0]?.synchronous_standby_names ?? '?';
  const syncStates = async (): Promise<Record<string, string>> => {
    const rows = (await tryQuery<{ application_name: string; sync_state: string }>(primary, 'SELECT application_name, sync_state FROM pg_stat_replication')) ?? [];
    return Object.fromEntries(rows.map((r) => [r.application_name, r.sync_state]));
  };

  /** Waits until the primary's setting, walsenders and the sync key all say what `check` wants. */
  const waitForSyncState = async (what: string, check: (s: { key: SyncKey | null; names: string; states: Record<string, string> }) => boolean) => {
    let last: unknown = null;
    await waitFor(
      what,
      async () => {
        const s = { key: await syncKey(), names: await standbyNames(), states: await syncStates() };
        last = s;
        return check(s);
      },
      STEP_MS,
      250,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last seen ${JSON.stringify(last)}\n${diagnostics(cluster, 25)}`);
    });
    return last as { key: SyncKey | null; names: string; states: Record<string, string> };
  };

  /** GET /cluster's `automatic_failover` once it says `possible` (the API answers from its last cycle). */
  const automaticFailover = async (possible: boolean): Promise<{ possible: boolean; candidates: string[]; reason: string }> => {
    let seen: { possible: boolean; candidates: string[]; reason: string } | undefined;
    await waitFor(
      `GET /cluster to say automatic failover is ${possible ? '' : 'not '}possible`,
      async () => {
        seen = (JSON.parse((await api(primary, 'GET', '/cluster')).text) as { automatic_failover?: typeof seen }).automatic_failover;
        return seen?.possible === possible;
      },
      STEP_MS,
      250,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last seen ${JSON.stringify(seen)}`);
    });
    return seen!;
  };

  const replicas = () => cluster.members.filter((m) => m !== primary);

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: e2eStore(), timing: TIMING, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
    await query(primary, 'CREATE TABLE sync_rows (id int PRIMARY KEY, note text)');
  });

  afterAll(async () => {
    if (cluster) await closeRawKeys(cluster);
    await cluster?.stop();
  });

  it('on: one standby is synchronous in PostgreSQL and then published in the sync key', async () => {
    await patchConfig({ synchronous_mode: true });
    const s = await waitForSyncState('one synchronous standby, published', ({ key, names, states }) => {
      const listed = standbysOf(key);
      return key?.leader === primary.name && listed.length === 1 && names === listed[0] && states[listed[0]!] === 'sync';
    });
    const sync = standbysOf(s.key)[0]!;
    const other = replicas().find((m) => m.name !== sync)!;
    expect(s.states[other.name]).toBe('async');
    // Only the published standby could take over, and GET /cluster says so.
    expect((await automaticFailover(true)).candidates).toEqual([sync]);
  });

  it("a synchronous standby that is stopping asks the primary to release it first (Patroni's nosync on shutdown)", async () => {
    const s = await waitForSyncState('one synchronous standby, published', ({ key, names, states }) => {
      const listed = standbysOf(key);
      return key?.leader === primary.name && listed.length === 1 && names === listed[0] && states[listed[0]!] === 'sync';
    });
    const sync = cluster.members.find((m) => m.name === standbysOf(s.key)[0])!;
    const other = replicas().find((m) => m !== sync)!;
    await sync.stop();
    // Read once, after the stop: the agent waited for the primary to move the sync key before stopping.
    expect(standbysOf(await syncKey())).toEqual([other.name]);
    expect(sync.output()).not.toContain('skipping synchronous standby disable');
    sync.start();
    await waitForStreaming(cluster, primary);
  });

  it('strict (written straight into the config key): commits wait while no standby is synchronous', async () => {
    const config = (await readJsonKey<Record<string, unknown>>(cluster, 'config'))!;
    await writeJsonKey(cluster, 'config', { ...config, synchronous_mode_strict: true });
    const [first] = standbysOf(await syncKey());
    const sync = cluster.members.find((m) => m.name === first)!;
    const other = replicas().find((m) => m !== sync)!;

    // The synchronous standby goes away: the other one is made synchronous and published.
    await sync.stop();
    await waitForSyncState(`${other.name} synchronous instead of ${sync.name}`, ({ key, names, states }) =>
      standbysOf(key).join() === other.name && names === other.name && states[other.name] === 'sync',
    );
    await query(primary, 'INSERT INTO sync_rows VALUES ($1, $2)', [nextId++, 'committed with the replacement standby']);

    // No standby at all: strict mode keeps commits waiting for any standby.
    await other.stop();
    // PostgreSQL does not time a commit's wait for a standby out (statement_timeout ends before
    // the commit): the commit is seen waiting in pg_stat_activity instead.
    const waiting = connect(primary, STEP_MS);
    const id = nextId++;
    let settled = false;
    try {
      await waitForSyncState("synchronous_standby_names '*' and nobody published", ({ key, names }) =>
        names === '*' && standbysOf(key).length === 0 && key?.leader === primary.name,
      );
      // Nobody could take over now: the cluster must not look healthy.
      expect((await automaticFailover(false)).candidates).toEqual([]);
      await waiting.connect();
      const commit = waiting.query(`INSERT INTO sync_rows VALUES (${id}, 'waited')`);
      void commit.then(
        () => (settled = true),
        () => (settled = true),
      );
      await waitFor(
        'the commit to wait for a synchronous standby',
        async () => ((await tryQuery(primary, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'")) ?? []).length > 0,
        STEP_MS,
        250,
      );
      expect(settled).toBe(false);
      // The member returns: it becomes synchronous and the commit completes.
      sync.start();
      await commit;
    } finally {
      await waiting.end().catch(() => {});
      sync.start();
      other.start();
    }
    await waitForStreaming(cluster, primary);
    for (const m of replicas()) await waitForRow(m, 'sync_rows', id, STEP_MS);
  });

  it('synchronous_node_count 2: both replicas synchronous', async () => {
    await patchConfig({ synchronous_mode_strict: false, synchronous_node_count: 2 });
    const names = replicas().map((m) => m.name).sort();
    const s = await waitForSyncState('two synchronous standbys, published', ({ key, states }) =>
      standbysOf(key).join() === names.join() && names.every((n) => states[n] === 'sync'),
    );
    expect(s.names).toMatch(/^2 \((pg\d),(pg\d)\)$/);
    expect(s.names.slice(3, -1).split(',').sort()).toEqual(names);
  });

  it('quorum: ANY k of both replicas, and the votes a candidate needs in the sync key', async () => {
    const names = replicas().map((m) => m.name).sort();
    await patchConfig({ synchronous_mode: 'quorum' });
    const any2 = await waitForSyncState('ANY 2 over both replicas', ({ key, names: ssn, states }) =>
      /^ANY 2 \(/.test(ssn) && standbysOf(key).join() === names.join() && names.every((n) => states[n] === 'quorum'),
    );
    expect(any2.key?.quorum ?? 0).toBe(0);
    await patchConfig({ synchronous_node_count: 1 });
    const any1 = await waitForSyncState('ANY 1 over both replicas, one vote needed', ({ key, names: ssn }) =>
      /^ANY 1 \(/.test(ssn) && standbysOf(key).join() === names.join() && key?.quorum === 1,
    );
    expect(any1.names.replace(/^ANY 1 \((.*)\)$/, '$1').split(',').sort()).toEqual(names);
  });

  it('off: the setting is empty and the sync key is gone', async () => {
    await patchConfig({ synchronous_mode: 'off' });
    await waitForSyncState('no synchronous replication', ({ key, names, states }) =>
      key === null && names === '' && Object.values(states).every((st) => st === 'async'),
    );
  });

  it('on, then the primary dies: the member in the sync key becomes the new primary with every commit', async () => {
    await patchConfig({ synchronous_mode: 'on' });
    const s = await waitForSyncState('one synchronous standby, published', ({ key, names, states }) => {
      const listed = standbysOf(key);
      return key?.leader === primary.name && listed.length === 1 && names === listed[0] && states[listed[0]!] === 'sync';
    });
    const expected = standbysOf(s.key)[0]!;
    const id = nextId++;
    await query(primary, 'INSERT INTO sync_rows VALUES ($1, $2)', [id, 'before the failover']);

    const old = primary;
    await old.killAgent();
    old.killPostmaster();
    const next = await cluster.waitForPrimary(WAIT_MS, old.name);
    expect(next.name).toBe(expected);
    primary = next;
    expect(await tryQuery(next, 'SELECT note FROM sync_rows WHERE id = $1', [id])).toEqual([{ note: 'before the failover' }]);
    // The new leader takes the sync key over.
    await waitFor('the sync key to name the new leader', async () => (await syncKey())?.leader === next.name, STEP_MS, 250);
  });
});
