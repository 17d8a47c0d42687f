// Patroni's own patronictl (Debian's patroni 3.0.2, kazoo) reads a cluster that pgha drivers wrote
// to a real ZooKeeper: the key layout, the znode kinds and the JSON are what Patroni expects.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, silentLogger, type ClusterStore, type MemberData } from '@pgha/dcs';
import { startZooKeeper, tempDir, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { digestId } from '../src/config.js';
import { createDriver } from '../src/index.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

const PATRONICTL = process.env.PGHA_PATRONICTL ?? '/usr/bin/patronictl';
/** The interpreter Debian's patroni package is installed for. */
const PYTHON = '/usr/bin/python3';
const SYSID = '7268616322854375442';

let zk: ZooKeeperEnsemble;
let dir: { path: string; remove(): Promise<void> };
let configFile: string;
let scope: string;
const stores: ClusterStore[] = [];

function patronictl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(PATRONICTL, ['-c', configFile, ...args], { timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`patronictl ${args.join(' ')}: ${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
}

function member(overrides: Partial<MemberData>): MemberData {
  return { state: 'running', role: 'replica', version: '3.0.2', tags: {}, extra: {}, ...overrides };
}

beforeAll(async () => {
  expect(existsSync(PATRONICTL), `${PATRONICTL} (Debian package patroni) is needed`).toBe(true);
  zk = await startZooKeeper({ members: 1, tickTime: 1000 });
  dir = await tempDir('patronictl');
  scope = randomScope('batman');
  configFile = join(dir.path, 'patronictl.yaml');
  await writeFile(configFile, `scope: ${scope}\nzookeeper:\n  hosts:\n    - ${zk.connectString}\n`);

  for (const name of ['pg0', 'pg1', 'pg2']) {
    const driver = await createDriver(driverOptions(zk.connectString, { scope, name, ttl: 20 }));
    stores.push(createClusterStore(driver, { name, logger: silentLogger }));
  }
  const [pg0, pg1, pg2] = stores as [ClusterStore, ClusterStore, ClusterStore];
  expect(await pg0.attemptToInitialize()).toBe(true);
  const c = await pg0.loadCluster();
  expect(await pg0.setInitialize(SYSID, c.initialize!.version)).toBe(true);
  expect(await pg0.setConfig({ ttl: 20, loop_wait: 10, retry_timeout: 5, maximum_lag_on_failover: 1048576, postgresql: { use_pg_rewind: true, parameters: { max_connections: 100 } } }, null)).toBe(true);
  expect(await pg0.acquireLeader()).toBe(true);
  await pg0.touchMember(member({ role: 'primary', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', xlog_location: 50331808, timeline: 2 }));
  await pg1.touchMember(member({ conn_url: 'postgres://127.0.0.1:5433/postgres', api_url: 'http://127.0.0.1:8009/patroni', xlog_location: 50331808, timeline: 2 }));
  await pg2.touchMember(member({ state: 'stopped', conn_url: 'postgres://127.0.0.1:5434/postgres', api_url: 'http://127.0.0.1:8010/patroni', timeline: 2 }));
  expect(await pg0.setHistory([{ timeline: 1, lsn: 25165984, reason: 'no recovery target specified', timestamp: '2024-05-01T10:00:00.123456+00:00', new_leader: 'pg0' }], null)).toBe(true);
  expect(await pg0.updateLeader({ optime: 50331808, slots: {}, retain_slots: [] })).toBe(true);
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close({ revoke: true }).catch(() => undefined)));
  await zk?.stop();
  await dir?.remove();
});

describe('patronictl 3.0.2 on a cluster written by pgha', () => {
  it('lists the cluster: leader and replicas with host, state and timeline', async () => {
    const out = await patronictl(['list']);
    // 3.0.2 puts only the name in the header (the system id joined it in 3.1); see the next test for the id.
    expect(out.split('\n')[0]).toMatch(new RegExp(`^\\+ Cluster: ${scope} -+\\+`));
    const rows = out.split('\n').filter((l) => l.startsWith('|') && !/Member\s*\|/.test(l));
    const cells = (name: string) => rows.find((r) => r.split('|')[1]?.trim() === name)?.split('|').map((x) => x.trim());
    // | Member | Host | Role | State | TL | Lag in MB |
    expect(cells('pg0')?.slice(1, 6)).toEqual(['pg0', '127.0.0.1:5432', 'Leader', 'running', '2']);
    expect(cells('pg1')?.slice(1, 6)).toEqual(['pg1', '127.0.0.1:5433', 'Replica', 'running', '2']);
    expect(cells('pg1')?.[6]).toBe('0');
    expect(cells('pg2')?.slice(1, 5)).toEqual(['pg2', '127.0.0.1:5434', 'Replica', 'stopped']);
  });

  it('lists as JSON with the same facts', async () => {
    const rows = JSON.parse(await patronictl(['list', '-f', 'json'])) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r.Member, r.Role, r.State])).toEqual([
      ['pg0', 'Leader', 'running'],
      ['pg1', 'Replica', 'running'],
      ['pg2', 'Replica', 'stopped'],
    ]);
    expect(rows[0]).toMatchObject({ Cluster: scope, TL: 2 });
  });

  it("reads the system id, the sessions and the roles through Patroni's own ZooKeeper DCS class", async () => {
    // patronictl 3.0.2 prints no system id; Patroni's DCS layer (kazoo), which the agent and
    // patronictl share, shows what it makes of the keys.
    const script = [
      'import json, sys',
      'from patroni.dcs import get_dcs',
      "dcs = get_dcs({'scope': sys.argv[1], 'name': 'probe', 'zookeeper': {'hosts': [sys.argv[2]]}, 'ttl': 30, 'loop_wait': 10, 'retry_timeout': 10})",
      'c = dcs.get_cluster()',
      // Session ids are 64-bit: printed in hex, as the driver reports them.
      "print(json.dumps({'initialize': c.initialize, 'leader': c.leader.name, 'leaderSession': format(c.leader.session, 'x'),",
      "  'members': sorted([m.name, format(m.session, 'x'), m.data.get('role'), m.data.get('state')] for m in c.members),",
      "  'config': c.config.data, 'lastLsn': c.last_lsn,",
      "  'history': c.history.lines}))",
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(PYTHON, ['-c', script, scope, zk.connectString], { timeout: 60_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const seen = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    const raw = await stores[0]!.driver.load();
    const session = (name: string) => raw.nodes.get(`members/${name}`)!.owner!;
    expect(seen.initialize).toBe(SYSID);
    expect(seen.leader).toBe('pg0');
    // The leader znode is owned by the session of pg0, like its member znode.
    expect(seen.leaderSession).toBe(raw.nodes.get('leader')!.owner);
    expect(seen.leaderSession).toBe(session('pg0'));
    expect(seen.members).toEqual([
      ['pg0', session('pg0'), 'master', 'running'],
      ['pg1', session('pg1'), 'replica', 'running'],
      ['pg2', session('pg2'), 'replica', 'stopped'],
    ]);
    expect(seen.config).toMatchObject({ ttl: 20, loop_wait: 10 });
    expect(seen.lastLsn).toBe(50331808);
    expect(seen.history).toEqual([[1, 25165984, 'no recovery target specified', '2024-05-01T10:00:00.123456+00:00', 'pg0']]);
  });

  it('shows the dynamic configuration', async () => {
    const out = await patronictl(['show-config']);
    expect(out).toMatch(/^loop_wait: 10$/m);
    expect(out).toMatch(/^ttl: 20$/m);
    expect(out).toMatch(/^maximum_lag_on_failover: 1048576$/m);
    expect(out).toMatch(/^ {4}max_connections: 100$/m);
    expect(out).toMatch(/^ {2}use_pg_rewind: true$/m);
  });

  it('lists a cluster whose znodes carry ACLs, from the agents\' own YAML (auth_data, set_acls)', async () => {
    // Patroni 3.0.2 has no auth_data (3.3 added it) and reads every set_acls key as an x509 name
    // (the scheme prefix is Patroni 4.2's): it reads such a cluster through world:anyone READ.
    const aclScope = randomScope('robin');
    const zookeeper = {
      hosts: [zk.connectString],
      auth_data: { digest: 'pgha:secret' },
      set_acls: { [`digest:${digestId('pgha:secret')}`]: ['ALL'], 'world:anyone': ['READ'] },
    };
    for (const name of ['pg0', 'pg1']) {
      const driver = await createDriver(driverOptions(zk.connectString, { scope: aclScope, name, ttl: 20, section: zookeeper }));
      stores.push(createClusterStore(driver, { name, logger: silentLogger }));
    }
    const [pg0, pg1] = stores.slice(-2) as [ClusterStore, ClusterStore];
    expect(await pg0.acquireLeader()).toBe(true);
    await pg0.touchMember(member({ role: 'primary', conn_url: 'postgres://127.0.0.1:5442/postgres', api_url: 'http://127.0.0.1:8018/patroni', timeline: 1 }));
    await pg1.touchMember(member({ conn_url: 'postgres://127.0.0.1:5443/postgres', api_url: 'http://127.0.0.1:8019/patroni', timeline: 1 }));
    const aclConfig = join(dir.path, 'patronictl-acl.yaml');
    // JSON is YAML.
    await writeFile(aclConfig, JSON.stringify({ scope: aclScope, zookeeper }));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(PATRONICTL, ['-c', aclConfig, 'list', '-f', 'json'], { timeout: 60_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const rows = JSON.parse(out) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r.Member, r.Role, r.State])).toEqual([
      ['pg0', 'Leader', 'running'],
      ['pg1', 'Replica', 'running'],
    ]);
  });

  it('shows the timeline history', async () => {
    const out = await patronictl(['history']);
    const row = out.split('\n').find((l) => /^\|\s*1\s*\|/.test(l));
    expect(row?.split('|').map((x) => x.trim()).slice(1, 6)).toEqual([
      '1',
      '25165984',
      'no recovery target specified',
      '2024-05-01T10:00:00.123456+00:00',
      'pg0',
    ]);
  });
});
