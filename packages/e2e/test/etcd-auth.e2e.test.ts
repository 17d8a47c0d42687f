/**
 * End-to-end, issue 16: a whole cluster on an etcd with authentication enabled, the agents
 * logging in as a user whose role may read and write only the cluster's own prefix
 * (`/service/<scope>/`), as a locked-down etcd shared by several teams would be set up. The
 * cluster bootstraps, replicates, keeps its leader lock over several TTLs (lease keepalives are
 * authenticated since etcd's 2025 security releases) and switches over with pghactl, which logs
 * in from the same YAML. Without credentials, or outside its prefix, nothing can be written.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '@pgha/local-cluster';
import { WAIT_MS, tail, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { query } from '@pgha/workload';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const SCOPE = 'etcdauth';
const ROOT = 'root:etcd-root-pw';
const AGENT = { username: 'pgha-etcdauth', password: 'etcd-agent-pw' };
const echo = process.env['PGHA_E2E_ECHO'] === '1';

describe('a cluster on etcd with authentication and a role limited to its prefix', () => {
  let cluster: LocalCluster;
  let etcdctl: (args: string[]) => Promise<string>;
  const diagnostics = () => cluster.members.map((m) => `--- ${m.name}\n${tail(m)}`).join('\n');
  /** etcdctl's error for `args`, or 'ok' when it succeeded. */
  const attempt = (args: string[]) => etcdctl(args).then(() => 'ok', (e: Error) => e.message);

  beforeAll(async () => {
    cluster = await startLocalCluster({
      members: 3,
      scope: SCOPE,
      timing: TIMING,
      dcs: 'etcd',
      dcsSettings: { username: AGENT.username, password: AGENT.password },
      etcdSetup: async (ctl) => {
        etcdctl = ctl;
        await ctl(['user', 'add', ROOT]);
        await ctl(['role', 'add', 'pgha-etcdauth']);
        await ctl(['role', 'grant-permission', 'pgha-etcdauth', '--prefix=true', 'readwrite', `/service/${SCOPE}/`]);
        await ctl(['user', 'add', `${AGENT.username}:${AGENT.password}`]);
        await ctl(['user', 'grant-role', AGENT.username, 'pgha-etcdauth']);
        await ctl(['auth', 'enable']);
      },
      echo,
    });
    const primary = await cluster.waitForPrimary(WAIT_MS).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics()}`);
    });
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses writes without credentials and outside the role\'s prefix', async () => {
    expect(await attempt(['get', `/service/${SCOPE}/leader`])).toMatch(/user name is empty|authentication|permission denied/i);
    expect(await attempt(['put', `/service/${SCOPE}/leader`, 'intruder'])).toMatch(/user name is empty|authentication|permission denied/i);
    const asAgent = `--user=${AGENT.username}:${AGENT.password}`;
    expect(await attempt([asAgent, 'put', '/service/another-cluster/leader', 'x'])).toMatch(/permission denied/i);
    // The agents' own user reads its cluster's keys: the role is what limits it, not a broken login.
    expect(await etcdctl([asAgent, 'get', `/service/${SCOPE}/leader`, '--print-value-only'])).toMatch(/pg\d/);
  });

  it('keeps the leader lock across several TTLs and replicates', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await query(primary, 'CREATE TABLE IF NOT EXISTS auth_rows (id int PRIMARY KEY)');
    const asRoot = `--user=${ROOT}`;
    const leaseOf = async () => {
      const json = JSON.parse(await etcdctl([asRoot, 'get', `/service/${SCOPE}/leader`, '-w', 'json'])) as { kvs?: Array<{ lease?: number }> };
      return json.kvs?.[0]?.lease ?? 0;
    };
    const lease = await leaseOf();
    expect(lease).not.toBe(0);
    // Three TTLs pass: the lease lives only if the agent's authenticated keepalives reach etcd.
    for (let id = 1; id <= 3; id++) {
      await new Promise((r) => setTimeout(r, TIMING.ttl * 1000));
      await query(primary, 'INSERT INTO auth_rows VALUES ($1)', [id]);
    }
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(primary.name);
    expect(await leaseOf()).toBe(lease);
    for (const m of cluster.members.filter((x) => x !== primary)) await waitForRow(m, 'auth_rows', 3);
    expect(cluster.members.map((m) => m.output()).join('\n')).not.toMatch(/permission denied|user name is empty|invalid auth token/i);
  });

  it('switches over with pghactl logging in from the YAML', async () => {
    const old = await cluster.waitForPrimary(WAIT_MS);
    const target = cluster.members.find((m) => m !== old)!;
    const out = await pghactl(old, ['switchover', '--leader', old.name, '--candidate', target.name, '--force']);
    expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
    const next = await cluster.waitForPrimary(WAIT_MS, old.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics()}`);
    });
    expect(next.name).toBe(target.name);
    await waitForStreaming(cluster, next);
    // pghactl reads the members from etcd with the agents' credentials.
    const list = await pghactl(next, ['list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').find((line) => line.includes(`| ${next.name} `))).toMatch(/\| Leader +\| running/);
  });
});
