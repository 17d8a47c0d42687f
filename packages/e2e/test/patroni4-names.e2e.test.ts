/**
 * End-to-end, Patroni 4's names (issue #17): Patroni 4.0 calls a primary `primary` where 3.x said
 * `master`, in the member key, GET /patroni, the callbacks' role argument and the metrics (no
 * `patroni_master`). Two members set `patroni_compatibility: 4`; each runs an `on_start` /
 * `on_role_change` script that appends its arguments (`action role scope`) to a file in the
 * member's directory, as a Patroni 4 user's script would wait for `primary`. A third member added
 * later sets nothing and must pick 4 up from the leader's member key. The Patroni 3 side (the
 * default) is members.e2e.test.ts's `on_role_change master`.
 * Outcomes only; every wait is bounded generously.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, diagnostics, tail, waitForStreaming } from './support/cluster-checks.js';
import { rawKey } from './support/etcd-keys.js';
import { pghactl } from './support/pghactl.js';
import { api, apiJson } from './support/rest.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const SCOPE = 'patroni4';
const echo = process.env['PGHA_E2E_ECHO'] === '1';

/** The callback lines a member logged: `<action> <role> <scope>`. */
function callbackLog(member: MemberHandle): string[] {
  const file = join(member.dataDir, '..', 'callbacks.log');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

async function waitForCallback(member: MemberHandle, line: string, after = 0): Promise<void> {
  await waitFor(`${member.name} logging callback "${line}"`, async () => callbackLog(member).slice(after).includes(line), WAIT_MS, 250).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; logged: ${JSON.stringify(callbackLog(member))}\n${tail(member)}`);
  });
}

/** The role the member's own key in the DCS holds, as written. */
async function roleInKey(cluster: LocalCluster, member: MemberHandle): Promise<string | undefined> {
  const value = await rawKey(cluster, `members/${member.name}`);
  return value === null ? undefined : (JSON.parse(value) as { role?: string }).role;
}

/** The metric names a member's /metrics declares (none when it does not answer 200). */
async function metricNames(member: MemberHandle): Promise<string[]> {
  const res = await api(member, 'GET', '/metrics');
  return res.status === 200 ? res.text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!) : [];
}

describe('a cluster speaking Patroni 4, on etcd', () => {
  let cluster: LocalCluster;
  let scriptDir: string;

  beforeAll(async () => {
    // The agents run as postgres and HOME is each member's directory (tools/cluster sets it).
    scriptDir = mkdtempSync(join(tmpdir(), 'pgha-patroni4-'));
    chmodSync(scriptDir, 0o755);
    const script = join(scriptDir, 'callback.sh');
    writeFileSync(script, '#!/bin/sh\necho "$*" >> "$HOME/callbacks.log"\n');
    chmodSync(script, 0o755);
    cluster = await startLocalCluster({
      members: 2,
      scope: SCOPE,
      timing: TIMING,
      postgresql: { callbacks: { on_start: script, on_role_change: script } },
      extra: { 0: { patroni_compatibility: 4 }, 1: { patroni_compatibility: 4 } },
      echo,
    });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
  });

  it("writes and shows the primary as `primary`: member key, GET /patroni, metrics without patroni_master, on_start's role", async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const replica = cluster.members.find((m) => m !== primary)!;
    await waitFor('the leader key saying primary', async () => (await roleInKey(cluster, primary)) === 'primary', WAIT_MS, 250);
    expect((await primary.status())?.['role']).toBe('primary');
    // A fresh clone's key says `demoted` until the cycle after its start (its copied pg_control reads as a stopped primary).
    await waitFor(`${replica.name}'s key saying replica`, async () => (await roleInKey(cluster, replica)) === 'replica', WAIT_MS, 250);
    for (const m of cluster.members) {
      const names = await metricNames(m);
      expect(names).toContain('patroni_primary');
      expect(names).not.toContain('patroni_master');
    }
    await waitForCallback(primary, `on_start primary ${SCOPE}`);
    await waitForCallback(replica, `on_start replica ${SCOPE}`);
    // The health checks of both generations answer for it.
    for (const path of ['/primary', '/master', '/read-write']) expect([path, (await api(primary, 'GET', path)).status]).toEqual([path, 200]);
  });

  it('a switchover fires on_role_change: primary on the new primary, replica on the old one', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const candidate = cluster.members.find((m) => m !== primary)!;
    const before = { old: callbackLog(primary).length, next: callbackLog(candidate).length };
    const res = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name });
    expect(res.status, res.text).toBe(200);
    const next = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(next.name).toBe(candidate.name);
    await waitForCallback(candidate, `on_role_change primary ${SCOPE}`, before.next);
    await waitForCallback(primary, `on_role_change replica ${SCOPE}`, before.old);
    expect(callbackLog(candidate).slice(before.next)).not.toContain(`on_role_change master ${SCOPE}`);
    expect((await candidate.status())?.['role']).toBe('primary');
    await waitForStreaming(cluster, next);
  });

  it('a member that sets nothing picks Patroni 4 up from the leader, and pghactl lists the leader as Leader', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const added = await cluster.addMember();
    await waitForStreaming(cluster, primary);
    // Before its first cycle it has nothing to go by but the default (3, with patroni_master).
    const speaks4 = async () => {
      const names = await metricNames(added);
      return names.includes('patroni_primary') && !names.includes('patroni_master');
    };
    await waitFor(`${added.name} reporting patroni_primary without patroni_master`, speaks4, WAIT_MS, 500).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(added)}`);
    });
    // Its key catches up at the end of the cycle that saw it streaming.
    await waitFor(`${added.name}'s key saying replica`, async () => (await roleInKey(cluster, added)) === 'replica', WAIT_MS, 250);

    const list = await pghactl(added, ['list', '-f', 'json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { Member: string; Role: string }[];
    expect(rows.find((r) => r.Member === primary.name)?.Role).toBe('Leader');
  });

  it("Patroni 4.1's quorum standby: GET /cluster, GET /patroni, pghactl list, /quorum, /metrics; /readiness?mode=write; patroni_postgres_state", async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const res = await api(primary, 'PATCH', '/config', { synchronous_mode: 'quorum' });
    expect(res.status, res.text).toBe(200);
    const replicas = cluster.members.filter((m) => m !== primary).map((m) => m.name).sort();
    type ClusterJson = { members: { name: string; role: string }[] };
    let view: ClusterJson | null = null;
    await waitFor('GET /cluster naming both replicas quorum_standby', async () => {
      view = await apiJson<ClusterJson>(primary, '/cluster');
      return replicas.every((n) => view!.members.find((m) => m.name === n)?.role === 'quorum_standby');
    }, WAIT_MS, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last ${JSON.stringify(view)}\n${diagnostics(cluster)}`);
    });
    const replica = cluster.members.find((m) => m.name === replicas[0])!;
    // The replica's own view follows at its next cycle.
    await waitFor(`${replica.name}'s GET /patroni saying quorum_standby`, async () => (await replica.status())?.['quorum_standby'] === true, WAIT_MS, 250);
    expect((await replica.status())?.['sync_standby']).toBeUndefined();
    expect([(await api(replica, 'GET', '/quorum')).status, (await api(replica, 'GET', '/sync')).status]).toEqual([200, 503]);
    const metrics = (await api(replica, 'GET', '/metrics')).text;
    const line = (name: string) => metrics.split('\n').find((l) => l.startsWith(`${name}{`))?.split(' ')[1];
    expect([line('patroni_quorum_standby'), line('patroni_sync_standby'), line('patroni_postgres_state'), line('patroni_failsafe_member')]).toEqual(['1', '0', '5', '0']);
    expect((await api(replica, 'GET', '/readiness?mode=write')).status).toBe(200);
    const list = await pghactl(replica, ['list', '-f', 'json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { Member: string; Role: string }[];
    expect(replicas.map((n) => rows.find((r) => r.Member === n)?.Role)).toEqual(['Quorum Standby', 'Quorum Standby']);
  });
});
