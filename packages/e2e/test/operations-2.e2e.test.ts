/**
 * End-to-end, operations (issue #9, second part) on one three-member cluster (etcd, or ZooKeeper
 * in the `e2e-zookeeper` project):
 * - scheduled restart through POST /restart: it happens at its time and not before (the
 *   member's `postmaster_start_time` in GET /patroni); a condition that does not hold (`role:
 *   primary` on a replica) is accepted for later, as Patroni does, and then skipped; DELETE
 *   /restart cancels a scheduled one;
 * - parameter classes (seed manual chapter 3): a postmaster-context parameter changed with PATCH
 *   /config leaves every member `pending_restart` (with `pending_restart_reason`) until a
 *   restart filtered on `restart_pending` applies it; a reload-context one is applied live; a
 *   DCS-stored agent setting (`ttl`) re-grants the leader's lock (etcd lease, ZooKeeper session)
 *   with the new TTL; a
 *   timing that breaks `loop_wait + 2*retry_timeout <= ttl` is adjusted with a warning; a
 *   malformed PATCH is refused whole;
 * - POST /reinitialize of a replica re-clones its data directory and it streams again; the
 *   leader refuses with Patroni's message.
 * Outcomes only; every wait is bounded generously. The only times compared are "not before the
 * scheduled moment".
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { pghactl } from './support/pghactl.js';
import { api } from './support/rest.js';
import { query, tryQuery } from '@pgha/workload';
import { WAIT_MS, healthyPrimary, tail, waitForRow } from './support/cluster-checks.js';
import { leaderLockTtl } from './support/lock-ttl.js';
import { closeRawKeys } from './support/raw-keys.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const SCOPE = 'ops2';
const TABLE = 'ops2_probe';
const echo = process.env['PGHA_E2E_ECHO'] === '1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));



/** GET /patroni's `postmaster_start_time` as epoch ms, or null while PostgreSQL is down. */
async function startTime(member: MemberHandle): Promise<number | null> {
  const text = (await member.status())?.['postmaster_start_time'];
  return typeof text === 'string' ? Date.parse(text.replace(' ', 'T')) : null;
}

async function show(member: MemberHandle, name: string): Promise<string | null> {
  const rows = await tryQuery<{ v: string }>(member, `SELECT current_setting($1) AS v`, [name]);
  return rows?.[0]?.v ?? null;
}

async function dcsConfig(member: MemberHandle): Promise<Record<string, unknown>> {
  const res = await api(member, 'GET', '/config');
  expect(res.status).toBe(200);
  return JSON.parse(res.text) as Record<string, unknown>;
}

describe(`scheduled restart, parameter classes and reinitialize on ${DCS}`, () => {
  let cluster: LocalCluster;

  async function replicaOf(): Promise<{ primary: MemberHandle; replica: MemberHandle }> {
    const primary = await healthyPrimary(cluster);
    return { primary, replica: cluster.members.find((m) => m !== primary)! };
  }

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 3, dcs: DCS, scope: SCOPE, timing: TIMING, maxTtl: 20, echo });
    const primary = await healthyPrimary(cluster);
    await query(primary, `CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, note text)`);
  });

  afterAll(async () => {
    if (cluster) await closeRawKeys(cluster);
    await cluster?.stop();
  });

  it('a scheduled restart of a replica happens at its time, not before', async () => {
    const { replica } = await replicaOf();
    // GET /patroni answers from the agent's last cycle: a replica that streams already may not
    // have had a cycle since its server started, and shows no start time until it has.
    await waitFor(`${replica.name}'s GET /patroni to show its postmaster start time`, async () => (await startTime(replica)) !== null, WAIT_MS, 250);
    const before = await startTime(replica);
    expect(before).not.toBeNull();
    const at = new Date(Date.now() + 8000);
    const res = await api(replica, 'POST', '/restart', { schedule: at.toISOString(), role: 'replica' });
    expect(res).toEqual({ status: 202, text: 'Restart scheduled' });
    expect((await replica.status())?.['scheduled_restart']).toMatchObject({ schedule: at.toISOString(), role: 'replica' });
    // In the member key too, as Patroni writes it: `pghactl list` shows the column.
    await waitFor('the schedule in pghactl list', async () => /Scheduled restart/.test((await pghactl(replica, ['list'])).stdout), WAIT_MS);
    const listed = (await pghactl(replica, ['list'])).stdout;
    expect(listed.split('\n').find((l) => l.includes(` ${replica.name} `))).toContain(at.toISOString());
    expect((await api(replica, 'POST', '/restart', { schedule: new Date(Date.now() + 60_000).toISOString() }))).toEqual({
      status: 409,
      text: 'Another restart is already scheduled',
    });
    while (Date.now() < at.getTime() - 1000) {
      expect(await startTime(replica), `${replica.name} restarted before ${at.toISOString()}`).toBe(before);
      await sleep(500);
    }
    let after: number | null = null;
    await waitFor(`${replica.name} restarted by the schedule`, async () => {
      after = await startTime(replica);
      return after !== null && after !== before;
    }, WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(replica)}`);
    });
    // The new postmaster started after the scheduled moment (whole-second margin for the clocks' rounding).
    expect(after!).toBeGreaterThanOrEqual(at.getTime() - 1000);
    expect((await replica.status())?.['scheduled_restart']).toBeUndefined();
    await healthyPrimary(cluster);
  });

  it('a restart whose conditions do not hold is refused now, and skipped when scheduled', async () => {
    const { replica } = await replicaOf();
    const before = await startTime(replica);
    expect(await api(replica, 'POST', '/restart', { role: 'primary' })).toEqual({ status: 503, text: 'restart conditions are not satisfied' });
    expect(await api(replica, 'POST', '/restart', { restart_pending: true })).toEqual({ status: 503, text: 'restart conditions are not satisfied' });
    // A version below the running one never matches (Patroni restarts only to pick up a newer minor).
    expect(await api(replica, 'POST', '/restart', { postgres_version: '10.0' })).toEqual({ status: 503, text: 'restart conditions are not satisfied' });
    expect((await api(replica, 'POST', '/restart', { postgres_version: 'x' })).status).toBe(400);

    // Scheduled, the conditions are checked when the time comes (Patroni accepts it with 202).
    const at = new Date(Date.now() + 5000);
    expect(await api(replica, 'POST', '/restart', { schedule: at.toISOString(), role: 'primary' })).toEqual({ status: 202, text: 'Restart scheduled' });
    const logged = replica.output().length;
    await waitFor('the skipped scheduled restart logged', async () => replica.output().slice(logged).includes('the scheduled restart was skipped: restart conditions are not satisfied'), WAIT_MS, 250);
    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime() - 1000);
    await sleep(2000);
    expect(await startTime(replica)).toBe(before);
    expect((await replica.status())?.['scheduled_restart']).toBeUndefined();

    // DELETE /restart (pghactl flush restart) cancels one that is waiting.
    const later = new Date(Date.now() + 6000);
    expect((await api(replica, 'POST', '/restart', { schedule: later.toISOString(), postgres_version: '99.0' })).status).toBe(202);
    expect(await api(replica, 'DELETE', '/restart')).toEqual({ status: 200, text: 'scheduled restart deleted' });
    expect((await replica.status())?.['scheduled_restart']).toBeUndefined();
    expect((await api(replica, 'DELETE', '/restart')).status).toBe(404);
    while (Date.now() < later.getTime() + 3000) await sleep(500);
    expect(await startTime(replica), `${replica.name} restarted although its scheduled restart was deleted`).toBe(before);
  });

  it('a postmaster-context parameter waits for a restart on every member; a restart_pending restart applies it', async () => {
    const primary = await healthyPrimary(cluster);
    expect(await show(primary, 'max_connections')).toBe('50');
    const patched = await api(primary, 'PATCH', '/config', { postgresql: { parameters: { max_connections: 60 } } });
    expect(patched.status, patched.text).toBe(200);
    for (const m of cluster.members) {
      await waitFor(`${m.name} showing pending_restart`, async () => {
        const s = await m.status();
        return s?.['pending_restart'] === true;
      }, WAIT_MS, 250).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${tail(m)}`);
      });
      expect((await m.status())?.['pending_restart_reason']).toEqual({ max_connections: { old_value: '50', new_value: '60' } });
      expect(await show(m, 'max_connections')).toBe('50');
    }
    // GET /cluster shows it too (pghactl list's `Pending restart` column), from the member keys
    // each agent writes at its next cycle.
    await waitFor('pending_restart on every member in GET /cluster', async () => {
      const view = JSON.parse((await api(primary, 'GET', '/cluster')).text) as { members: { name: string; pending_restart?: boolean }[] };
      return view.members.length === cluster.members.length && view.members.every((m) => m.pending_restart === true);
    }, WAIT_MS, 250);

    // Replicas first: a hot standby needs max_connections at least the primary's.
    for (const m of [...cluster.members.filter((x) => x !== primary), primary]) {
      const res = await api(m, 'POST', '/restart', { restart_pending: true });
      expect(res, `${m.name}\n${tail(m)}`).toEqual({ status: 200, text: 'restarted successfully' });
      await waitFor(`${m.name} running with max_connections 60`, async () => (await show(m, 'max_connections')) === '60', WAIT_MS, 250);
      await waitFor(`${m.name} no longer pending_restart`, async () => (await m.status())?.['pending_restart'] === undefined, WAIT_MS, 250);
    }
    await healthyPrimary(cluster);
  });

  it('a reload-context parameter applies live on every member, without a restart', async () => {
    const primary = await healthyPrimary(cluster);
    const started = new Map<string, number | null>();
    for (const m of cluster.members) started.set(m.name, await startTime(m));
    const res = await api(primary, 'PATCH', '/config', { postgresql: { parameters: { work_mem: '7MB' } } });
    expect(res.status, res.text).toBe(200);
    for (const m of cluster.members) {
      await waitFor(`work_mem 7MB on ${m.name}`, async () => (await show(m, 'work_mem')) === '7MB', WAIT_MS, 250);
      expect((await m.status())?.['pending_restart']).toBeUndefined();
      expect(await startTime(m)).toBe(started.get(m.name));
    }
  });

  it('ttl changed in the DCS re-grants the leader lock; a bad timing is adjusted; a malformed PATCH changes nothing', async () => {
    const primary = await healthyPrimary(cluster);
    expect(await leaderLockTtl(cluster)).toBe(TIMING.ttl);
    expect((await api(primary, 'PATCH', '/config', { ttl: 20, loop_wait: 2 })).status).toBe(200);
    await waitFor('the leader lock held with a ttl of 20 s', async () => (await leaderLockTtl(cluster)) === 20, WAIT_MS, 500).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}; TTL now ${await leaderLockTtl(cluster)}\n${tail(primary)}`);
    });
    expect(await dcsConfig(primary)).toMatchObject({ ttl: 20, loop_wait: 2 });

    // loop_wait 5 + 2 * retry_timeout 5 > ttl 10: stored as asked, run with a safe timing (warned).
    const bad = await api(primary, 'PATCH', '/config', { ttl: 10, loop_wait: 5, retry_timeout: 5 });
    expect(bad.status, bad.text).toBe(200);
    await waitFor('the leader lock back on a ttl of 10 s', async () => (await leaderLockTtl(cluster)) === 10, WAIT_MS, 500);
    for (const m of cluster.members) {
      await waitFor(`${m.name} warning about the timing rule`, async () => m.output().includes('loop_wait + 2*retry_timeout <= ttl'), WAIT_MS, 250).catch(
        (e: unknown) => {
          throw new Error(`${(e as Error).message}\n${tail(m)}`);
        },
      );
    }
    expect((await api(primary, 'PATCH', '/config', { loop_wait: TIMING.loopWait, retry_timeout: TIMING.retryTimeout })).status).toBe(200);
    // GET /config answers from the agent's last read of the DCS: wait for it to show that write.
    await waitFor(
      'the restored timing in GET /config',
      async () => {
        const c = await dcsConfig(primary);
        return c['loop_wait'] === TIMING.loopWait && c['retry_timeout'] === TIMING.retryTimeout;
      },
      WAIT_MS,
      250,
    );

    // A malformed value is refused whole: the error names the key, nothing is written.
    const configBefore = await dcsConfig(primary);
    const refused = await api(primary, 'PATCH', '/config', { ttl: 'abc', loop_wait: 1, postgresql: { parameters: { work_mem: '9MB' } } });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('ttl');
    expect(await dcsConfig(primary)).toEqual(configBefore);
    await sleep(2000);
    expect(await show(primary, 'work_mem')).toBe('7MB');
    await healthyPrimary(cluster);
  });

  it('POST /reinitialize re-clones a replica, which streams again; the leader refuses', async () => {
    const { primary, replica } = await replicaOf();
    const marker = join(replica.dataDir, 'pgha-e2e-marker');
    writeFileSync(marker, 'dropped by the test\n');
    expect(await api(primary, 'POST', '/reinitialize', {})).toEqual({ status: 503, text: 'I am the leader, can not reinitialize' });

    const res = await api(replica, 'POST', '/reinitialize', {});
    expect(res, tail(replica)).toEqual({ status: 200, text: 'reinitialize started' });
    await waitFor(`${replica.name}'s data directory re-cloned`, async () => !existsSync(marker) && (await tryQuery(replica, 'SELECT 1')) !== null, WAIT_MS, 250)
      .catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${tail(replica)}`);
      });
    await healthyPrimary(cluster);
    const [row] = await query<{ id: string }>(primary, `INSERT INTO ${TABLE} (note) VALUES ('after reinitialize') RETURNING id`);
    await waitForRow(replica, TABLE, Number(row!.id));

    // force: true, again — the same outcome.
    writeFileSync(marker, 'dropped by the test\n');
    const forced = await api(replica, 'POST', '/reinitialize', { force: true });
    expect(forced, tail(replica)).toEqual({ status: 200, text: 'reinitialize started' });
    await waitFor(`${replica.name}'s data directory re-cloned (force)`, async () => !existsSync(marker) && (await tryQuery(replica, 'SELECT 1')) !== null, WAIT_MS, 250);
    await healthyPrimary(cluster);
    const [row2] = await query<{ id: string }>(primary, `INSERT INTO ${TABLE} (note) VALUES ('after forced reinitialize') RETURNING id`);
    await waitForRow(replica, TABLE, Number(row2!.id));
  });
});
