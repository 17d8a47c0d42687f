// pghactl on a real ZooKeeper: the DCS paths (reads, CAS writes of config and failover, remove,
// scaffold, an unresponsive server) through the ZooKeeper driver, with the cluster's keys written
// by driver sessions as agents write them. The member APIs point at a closed port, so actions take
// their DCS fallbacks. (The agent-driven scenario of fixtures/live-scenario.ts runs on etcd; it
// takes `'zookeeper'` too once agents run on the ZooKeeper driver, see the report.)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, silentLogger, systemClock, type DcsDriver } from '@pgha/dcs';
import { createDriver } from '@pgha/dcs-zookeeper';
import { startZooKeeper, tempDir, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { runInProcess, runPghactl } from './fixtures/run-pghactl.ts';
import { memberJson } from './fixtures/memory-cluster.ts';

const scope = 'batman6';
let zk: ZooKeeperEnsemble;
let dir: Awaited<ReturnType<typeof tempDir>>;
let config: string;
const drivers: DcsDriver[] = [];

async function driverFor(name: string): Promise<DcsDriver> {
  const d = await createDriver({
    namespace: '/service', scope, name, section: { hosts: zk.connectString }, ttl: 30, loopWait: 10, retryTimeout: 5, clock: systemClock, logger: silentLogger,
  });
  drivers.push(d);
  return d;
}

const ctl = (args: string[], stdin?: string) => runPghactl(['-c', config, ...args], stdin === undefined ? {} : { stdin });

async function readKey(key: string): Promise<string | undefined> {
  const d = await driverFor('reader');
  return (await d.load()).nodes.get(key)?.value;
}

beforeAll(async () => {
  zk = await startZooKeeper({ members: 1 });
  dir = await tempDir('pghactl-zk');
  config = join(dir.path, 'ctl.yml');
  writeFileSync(config, `scope: ${scope}\nretry_timeout: 3\nzookeeper:\n  hosts: ${zk.connectString}\n`);
  const members = { pg0: memberJson('pg0', 5433, { role: 'master', xlog_location: 100 }), pg1: memberJson('pg1', 5434, { xlog_location: 100 }) };
  for (const [name, data] of Object.entries(members)) {
    const d = await driverFor(name);
    await d.touchMember(JSON.stringify(data));
    if (name === 'pg0') expect(await d.acquireLeader()).toBe(true);
  }
  const admin = createClusterStore(await driverFor('admin'), { name: 'admin', logger: silentLogger });
  expect(await admin.setInitialize('7300000000000000006', null)).toBe(true);
  expect(await admin.setConfig({ ttl: 30, loop_wait: 10 }, null)).toBe(true);
  expect(await admin.setHistory([{ timeline: 1, lsn: 25165824, reason: 'no recovery target specified', timestamp: '2026-11-24T10:00:00+00:00', new_leader: 'pg0' }], null)).toBe(true);
}, 120_000);

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close().catch(() => undefined)));
  await zk?.stop();
  await dir?.remove();
}, 60_000);

// Each command spawns node; on a loaded 2-core machine that can take several seconds.
describe('pghactl on ZooKeeper', { timeout: 240_000 }, () => {
  it('list, history, show-config and dsn read the cluster, with the config file or --dcs-url', async () => {
    const list = await ctl(['list']);
    expect(list.stderr).toBe('');
    expect(list.stdout).toMatch(/^\+ Cluster: batman6 \(7300000000000000006\) -+\+/);
    expect(list.stdout).toMatch(/\| pg0 +\| 127\.0\.0\.1:5433 \| Leader +\| running \|/);
    expect(list.stdout).toMatch(/\| pg1 +\| 127\.0\.0\.1:5434 \| Replica +\| running \|/);
    const viaUrl = await runPghactl(['-d', `zookeeper://${zk.connectString}`, 'list', scope, '-f', 'tsv']);
    expect(viaUrl.stdout.split('\n')[1]).toBe('batman6\tpg0\t127.0.0.1:5433\tLeader\trunning\t1\t');
    expect((await runInProcess(['-c', config, 'history', '-f', 'tsv'])).stdout).toContain('1\t25165824\tno recovery target specified\t');
    expect((await runInProcess(['-c', config, 'show-config'])).stdout).toBe('loop_wait: 10\nttl: 30\n\n');
    expect((await runInProcess(['-c', config, 'dsn'])).stdout).toBe('host=127.0.0.1 port=5433\n');
  });

  it('edit-config writes with CAS on the znode version', async () => {
    const r = await ctl(['edit-config', '-s', 'loop_wait=5'], 'y\n');
    expect(r.stdout).toContain('+loop_wait: 5\n');
    expect(r.stdout).toContain('Configuration changed\n');
    expect(JSON.parse((await readKey('config'))!)).toEqual({ ttl: 30, loop_wait: 5 });
  });

  it('pause and switchover fall back to the DCS when no member API answers', async () => {
    expect((await ctl(['pause'])).stdout).toBe('Success: cluster management is paused\n');
    expect(JSON.parse((await readKey('config'))!).pause).toBe(true);
    expect((await runInProcess(['-c', config, 'resume'])).code).toBe(0);
    const r = await ctl(['switchover', '--candidate', 'pg1'], '\nnow\ny\n');
    expect(r.stdout).toContain('Primary [pg0]: ');
    expect(r.stdout).toContain('Could not switchover using Patroni api, falling back to DCS');
    expect(JSON.parse((await readKey('failover'))!)).toEqual({ leader: 'pg0', member: 'pg1' });
  });

  it('bad input: unknown cluster and unknown member', async () => {
    expect(await ctl(['list', 'gotham'])).toMatchObject({ code: 1, stderr: "Error: Cluster 'gotham' not found: the DCS has nothing under /service/gotham/\n" });
    expect(await ctl(['reload', scope, 'pg7', '--force'])).toMatchObject({ code: 1, stderr: `Error: pg7 is not a member of cluster ${scope}\n` });
  });

  it('a ZooKeeper that does not answer: one-line error, exit 1', async () => {
    zk.freeze(0);
    try {
      const r = await ctl(['list'], undefined);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^Error: DCS error (while reading cluster|while connecting to the DCS for cluster) ${scope}: .+\\n$`));
    } finally {
      zk.thaw(0);
    }
  });

  it('scaffold creates a new cluster; remove wipes one after its confirmations', async () => {
    const s = await ctl(['scaffold', 'robin', '--sysid', '7300000000000000007']);
    expect(s.stdout).toBe('Cluster robin has been created successfully\n');
    expect((await runInProcess(['-c', config, 'list', 'robin'])).stdout).toContain('Cluster: robin (7300000000000000007)');
    const r = await ctl(['remove', 'robin'], 'robin\nYes I am aware\n');
    expect(r.code).toBe(0);
    expect((await runInProcess(['-c', config, 'list', 'robin'])).stderr).toContain("Cluster 'robin' not found");
    expect((await runInProcess(['-c', config, 'list'])).code).toBe(0);
  });
});
