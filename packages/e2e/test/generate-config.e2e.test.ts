/**
 * End-to-end, issue 21: `pgha --generate-config`. From a running PostgreSQL (--dsn) it reads the
 * data directory, cluster name, port, parameters, pg_hba and bin directory; with defaults and
 * PATRONI_* overrides it writes a file that --validate-config accepts and that bootstraps a
 * working single-member cluster when an agent starts with it.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYaml, PG_BIN_DIR, startLocalCluster, SUPERUSER, type LocalCluster } from '@pgha/local-cluster';
import { freePorts, startProcess, waitFor, type ServerProcess } from '@pgha/test-servers';
import { WAIT_MS } from './support/cluster-checks.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../agent/src/bin.ts');
// ZooKeeper by default (the seed's store; most other files default to etcd); PGHA_E2E_DCS picks the store.
const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';

async function pgha(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--conditions=@pgha/source', '--import', 'tsx', BIN, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe(`pgha --generate-config (${DCS})`, () => {
  let cluster: LocalCluster;
  const dir = mkdtempSync(join(tmpdir(), 'pgha-generate-'));
  let agent: ServerProcess | null = null;

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, scope: 'generated-from', members: 1, timing: { ttl: 10, loopWait: 1, retryTimeout: 3 } });
    await cluster.waitForPrimary(WAIT_MS);
  });

  afterAll(async () => {
    await agent?.stop(60_000);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--dsn: the running server’s data directory, name, port, parameters, pg_hba and binaries', async () => {
    const member = cluster.members[0]!;
    const out = join(dir, 'from-running.yml');
    const res = await pgha(['--generate-config', '--dsn', `host=127.0.0.1 port=${member.pgPort} user=${SUPERUSER.username} password=${SUPERUSER.password}`, out]);
    expect(res.code, res.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const config = parseYaml(readFileSync(out, 'utf8')) as {
      scope: string;
      postgresql: { data_dir: string; bin_dir: string; listen: string; pg_hba: string[]; authentication: { superuser: { username: string; password: string } } };
      bootstrap: { dcs: { postgresql: { parameters: Record<string, unknown> } } };
    };
    expect(config.scope).toBe('generated-from'); // cluster_name, which pgha sets to the scope
    expect(config.postgresql.data_dir).toBe(member.dataDir);
    expect(config.postgresql.bin_dir).toBe(PG_BIN_DIR);
    expect(config.postgresql.listen).toBe(`127.0.0.1:${member.pgPort}`);
    expect(config.postgresql.authentication.superuser).toEqual(SUPERUSER);
    const hba = readFileSync(join(member.dataDir, 'pg_hba.conf'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(config.postgresql.pg_hba).toEqual(hba);
    expect(config.bootstrap.dcs.postgresql.parameters['max_wal_senders']).toBe(String(await showSetting(member.pgPort, 'max_wal_senders')));
    expect((await pgha(['--validate-config', out])).code).toBe(0);
  });

  it('refuses a DSN that cannot connect, saying so', async () => {
    const res = await pgha(['--generate-config', '--dsn', 'host=127.0.0.1 port=1 user=postgres']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^pgha: cannot connect with --dsn: /);
  });

  it('defaults with PATRONI_* overrides: valid, and an agent started on it bootstraps a cluster', async () => {
    const [apiPort, pgPort] = await freePorts(2);
    const owner = statSync(cluster.members[0]!.configPath);
    const home = join(dir, 'member');
    // The agent (postgres) must pass through the test's directory to reach its own.
    chmodSync(dir, 0o755);
    await run('install', ['-d', '-o', String(owner.uid), '-g', String(owner.gid), '-m', '0700', home]);
    const dcsEnv: Record<string, string> =
      DCS === 'etcd' ? { PATRONI_ETCD3_HOSTS: cluster.dcs.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',') } : { PATRONI_ZOOKEEPER_HOSTS: cluster.dcs.endpoints.join(',') };
    const env = {
      PATRONI_SCOPE: 'generated',
      PATRONI_NAME: 'gen0',
      PATRONI_RESTAPI_LISTEN: `127.0.0.1:${apiPort}`,
      PATRONI_RESTAPI_CONNECT_ADDRESS: `127.0.0.1:${apiPort}`,
      PATRONI_POSTGRESQL_LISTEN: `127.0.0.1:${pgPort}`,
      PATRONI_POSTGRESQL_CONNECT_ADDRESS: `127.0.0.1:${pgPort}`,
      PATRONI_POSTGRESQL_DATA_DIR: join(home, 'data'),
      ...dcsEnv,
    };
    const file = join(home, 'pgha.yml');
    const generated = await pgha(['--generate-sample-config', file], env);
    expect(generated.code, generated.stderr).toBe(0);
    chownSync(file, owner.uid, owner.gid);
    const text = readFileSync(file, 'utf8');
    // One DCS section: the environment's store replaced the etcd3 default.
    expect(Object.keys(parseYaml(text) as object).filter((k) => ['etcd3', 'zookeeper'].includes(k))).toEqual([DCS === 'etcd' ? 'etcd3' : 'zookeeper']);
    // Valid as written, without the environment.
    const validated = await pgha(['--validate-config', file]);
    expect(validated.code, validated.stderr).toBe(0);

    // tsx by its resolved URL: the agent's working directory is the member's, outside the workspace.
    agent = startProcess(process.execPath, ['--conditions=@pgha/source', '--import', import.meta.resolve('tsx'), BIN, file], {
      uid: owner.uid,
      gid: owner.gid,
      cwd: home,
      env: { ...process.env, HOME: home, PGPASSFILE: join(home, 'pgpass'), TMPDIR: home },
    });
    let last = '';
    await waitFor(
      'the generated member to bootstrap and lead',
      async () => {
        last = await fetch(`http://127.0.0.1:${apiPort}/patroni`).then((r) => r.text(), () => '');
        return /"role":"master"/.test(last) && /"state":"running"/.test(last);
      },
      WAIT_MS,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${agent!.output().slice(-4000)}`);
    });
    expect(JSON.parse(last)).toMatchObject({ role: 'master', state: 'running', patroni: { scope: 'generated', name: 'gen0' } });
  });
});

async function showSetting(port: number, name: string): Promise<string> {
  const { stdout } = await run(join(PG_BIN_DIR, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER.username, '-d', 'postgres', '-Atc', `SHOW ${name}`], {
    env: { ...process.env, PGPASSWORD: SUPERUSER.password },
  });
  return stdout.trim();
}
