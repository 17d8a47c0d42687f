// Patroni compatibility: a cluster written through this driver (and the cluster store) is read
// by Debian's Patroni 3.0.2 — `patronictl list`, `show-config`, `history`, and Patroni's own DCS
// class — and keys Patroni 3.0.2 writes are read by this driver.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, silentLogger, type ClusterStore, type MemberData } from '@pgha/dcs';
import { startEtcd, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions } from './fixtures/driver-options.js';

const PATRONICTL = '/usr/bin/patronictl';
/** The interpreter patronictl runs on (Debian's, where the patroni module lives). */
const PYTHON = '/usr/bin/python3';
const SYSID = '7268616322854375442';

let etcd: EtcdCluster;
let dir: string;
let configFile: string;
const stores: ClusterStore[] = [];

function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const patronictl = (...args: string[]) => run(PATRONICTL, ['-c', configFile, ...args]);

/** The rows of a patronictl table, as arrays of trimmed cells (border lines dropped). */
function tableRows(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
}

function member(host: string, port: number, api: number, role: MemberData['role'], xlog: number, state = 'running'): MemberData {
  return {
    conn_url: `postgres://${host}:${port}/postgres`,
    api_url: `http://${host}:${api}/patroni`,
    state,
    role,
    version: '3.0.2',
    xlog_location: xlog,
    timeline: 2,
    tags: {},
    extra: {},
  };
}

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  dir = await mkdtemp(join(tmpdir(), 'pgha-patronictl-'));
  configFile = join(dir, 'patronictl.yaml');
  const hosts = etcd.endpoints.map((e) => e.replace('http://', '')).join(',');
  await writeFile(configFile, `scope: batman\nname: ctl\netcd3:\n  hosts: ${hosts}\n`);

  for (const name of ['pg0', 'pg1', 'pg2']) {
    const driver = await createDriver(driverOptions(etcd.endpoints, { scope: 'batman', name, ttl: 30 }));
    stores.push(createClusterStore(driver, { name, logger: silentLogger }));
  }
  const [pg0, pg1, pg2] = stores as [ClusterStore, ClusterStore, ClusterStore];
  expect(await pg0.attemptToInitialize()).toBe(true);
  const init = (await pg0.loadCluster()).initialize!;
  expect(await pg0.setInitialize(SYSID, init.version)).toBe(true);
  expect(
    await pg0.setConfig(
      {
        ttl: 30,
        loop_wait: 10,
        retry_timeout: 10,
        maximum_lag_on_failover: 1048576,
        postgresql: { use_pg_rewind: true, parameters: { max_connections: 100, wal_level: 'replica', hot_standby: 'on' } },
      },
      null,
    ),
  ).toBe(true);
  expect(await pg0.acquireLeader()).toBe(true);
  await pg0.touchMember(member('127.0.0.1', 5432, 8008, 'primary', 67109016));
  await pg1.touchMember(member('127.0.0.2', 5433, 8009, 'replica', 67109000));
  await pg2.touchMember(member('127.0.0.3', 5434, 8010, 'replica', 50331648, 'starting'));
  expect(await pg0.updateLeader({ optime: 67109016, slots: {}, retain_slots: [] })).toBe(true);
  expect(
    await pg0.setHistory(
      [
        { timeline: 1, lsn: 50331808, reason: 'no recovery target specified', timestamp: '2024-05-01T10:00:00.123456+00:00', new_leader: 'pg0' },
      ],
      null,
    ),
  ).toBe(true);
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close({ revoke: true }).catch(() => undefined)));
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('patronictl 3.0.2 reads a cluster written by pgha', () => {
  it('list: header, members, hosts, roles, states, timelines and lag', async () => {
    const out = await patronictl('list');
    // Patroni 3.0.2 prints the system id in the header only for Citus groups (its title code
    // drops it otherwise), so the header names the cluster; the id is checked through Patroni's
    // DCS class below.
    expect(out.split('\n')[0]).toMatch(/^\+ Cluster: batman -+\+/);
    const [header, ...rows] = tableRows(out);
    expect(header).toEqual(['Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB']);
    expect(rows).toEqual([
      ['pg0', '127.0.0.1:5432', 'Leader', 'running', '2', ''],
      ['pg1', '127.0.0.2:5433', 'Replica', 'running', '2', '0'],
      ['pg2', '127.0.0.3:5434', 'Replica', 'starting', '2', '16'],
    ]);
  });

  it('show-config prints the dynamic configuration', async () => {
    const out = await patronictl('show-config');
    expect(out).toContain('loop_wait: 10\n');
    expect(out).toContain('ttl: 30\n');
    expect(out).toContain('retry_timeout: 10\n');
    expect(out).toContain('maximum_lag_on_failover: 1048576\n');
    expect(out).toMatch(/postgresql:\n {2}parameters:\n {4}hot_standby: 'on'\n {4}max_connections: 100\n {4}wal_level: replica\n {2}use_pg_rewind: true\n/);
  });

  it('history prints the timeline switches', async () => {
    const [header, ...rows] = tableRows(await patronictl('history'));
    expect(header).toEqual(['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader']);
    expect(rows).toEqual([['1', '50331808', 'no recovery target specified', '2024-05-01T10:00:00.123456+00:00', 'pg0']]);
  });

  it("Patroni's own etcd3 class sees the system id, the leader on its lease, and every member", async () => {
    const port = etcd.endpoints[0]!.replace('http://127.0.0.1:', '');
    const script = `
import json
from patroni.dcs import get_dcs
dcs = get_dcs({'scope': 'batman', 'name': 'ctl', 'patronictl': True, 'ttl': 30, 'loop_wait': 10, 'retry_timeout': 10, 'etcd3': {'hosts': '127.0.0.1:${port}'}})
c = dcs.get_cluster()
print(json.dumps({
  'initialize': c.initialize,
  'leader': c.leader.name,
  'leader_session': str(c.leader.session),
  'members': {m.name: {'role': m.data.get('role'), 'session': str(m.session), 'conn_url': m.conn_url} for m in c.members},
  'ttl': c.config.data.get('ttl'),
  'last_lsn': c.last_lsn,
  'history': c.history.lines,
}))
`;
    const seen = JSON.parse(await run(PYTHON, ['-c', script])) as Record<string, unknown> & { members: Record<string, { role: string; session: string; conn_url: string }> };
    const raw = await stores[0]!.driver.load();
    expect(seen).toMatchObject({ initialize: SYSID, leader: 'pg0', ttl: 30, last_lsn: 67109016 });
    expect(seen.history).toEqual([[1, 50331808, 'no recovery target specified', '2024-05-01T10:00:00.123456+00:00', 'pg0']]);
    expect(seen.leader_session).toBe(raw.nodes.get('leader')!.owner);
    expect(seen.members.pg0).toEqual({ role: 'master', session: raw.nodes.get('leader')!.owner, conn_url: 'postgres://127.0.0.1:5432/postgres' });
    expect(Object.keys(seen.members).sort()).toEqual(['pg0', 'pg1', 'pg2']);
    expect(seen.members.pg1!.role).toBe('replica');
  });
});

describe('pgha reads what Patroni 3.0.2 writes', () => {
  it('sees a Patroni leader and member on its lease, and cannot take or renew that lock', async () => {
    const port = etcd.endpoints[0]!.replace('http://127.0.0.1:', '');
    const script = `
from patroni.dcs import get_dcs
dcs = get_dcs({'scope': 'gotham', 'name': 'patroni1', 'ttl': 30, 'loop_wait': 10, 'retry_timeout': 10, 'etcd3': {'hosts': '127.0.0.1:${port}'}})
assert dcs.attempt_to_acquire_leader()
assert dcs.touch_member({'conn_url': 'postgres://10.0.0.9:5432/postgres', 'api_url': 'http://10.0.0.9:8008/patroni', 'state': 'running', 'role': 'master', 'version': '3.0.2'})
assert dcs.initialize(create_new=True, sysid='7000000000000000001')
print(dcs._lease)
`;
    const lease = (await run(PYTHON, ['-c', script])).trim();
    const driver = await createDriver(driverOptions(etcd.endpoints, { scope: 'gotham', name: 'pgha1' }));
    const store = createClusterStore(driver, { name: 'pgha1', logger: silentLogger });
    stores.push(store);
    const c = await store.loadCluster();
    expect(c.warnings).toEqual([]);
    expect(c.initialize?.value).toBe('7000000000000000001');
    expect(c.leader).toMatchObject({ name: 'patroni1', owner: lease });
    expect(c.members.map((m) => [m.name, m.data.role, m.owner])).toEqual([['patroni1', 'primary', lease]]);
    expect(await store.acquireLeader()).toBe(false);
    expect(await store.updateLeader()).toBe(false);
    expect(await store.releaseLeader()).toBe(false);
    expect((await driver.load()).nodes.get('leader')?.value).toBe('patroni1');
    // Clean up Patroni's keys (its lease would otherwise outlive the test by ttl).
    await driver.deleteCluster();
  });
});
