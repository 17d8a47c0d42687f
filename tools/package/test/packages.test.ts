// The release artifacts, built and installed as a user would: the npm tarballs with `npm install
// -g` into an empty prefix, the .deb with `dpkg -i` into a throw-away root; then the installed
// commands run, pghactl against a live cluster.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '@pgha/local-cluster';
import { debFromTarballs, npmEnv, packWorkspace, type PackedWorkspace } from '../src/build.ts';
import { BUNDLE_DIR, NATIVE_ADDONS } from '../src/deb.ts';
import type { BuiltDeb } from '../src/deb.ts';
import { dashboardServes, dpkgInstall, exec, npmInstallGlobal, verifyUnit, type Ran } from './fixtures/installs.ts';

const run = promisify(execFile);
const EXAMPLE = new URL('../files/pgha.yml.example', import.meta.url).pathname;

let work: string;
let packed: PackedWorkspace;
let deb: BuiltDeb;
let npmInstall: Ran;
let prefix: string;
let root: string;
let dpkg: Ran;
let cluster: LocalCluster | null = null;
let clusterStart: Promise<LocalCluster>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgha-package-'));
  prefix = join(work, 'prefix');
  root = join(work, 'root');
  // The cluster starts while the packages build; the two npm installs (the user's into a prefix,
  // the .deb's bundle) run side by side: each spends most of its time compiling one addon.
  clusterStart = startLocalCluster({ members: 1, dcs: 'etcd', scope: 'packaged', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 } });
  const options = { outDir: join(work, 'out') };
  packed = await packWorkspace(options);
  [deb, npmInstall] = await Promise.all([debFromTarballs(packed, options), npmInstallGlobal(prefix, packed.tarballs, npmEnv())]);
  dpkg = await dpkgInstall(root, deb.path);
  cluster = await clusterStart;
}, 900_000);

afterAll(async () => {
  await (cluster ?? (await clusterStart?.catch(() => null)))?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

/** A small ctl YAML for the live cluster, once it has a leader. */
async function ctlFile(): Promise<string> {
  const live = cluster!;
  await live.waitForPrimary(120_000);
  const ctl = join(work, 'pghactl.yml');
  const hosts = live.dcs.endpoints.map((e) => e.replace(/^https?:\/\//, ''));
  await writeFile(ctl, `scope: ${live.scope}\nnamespace: /service\netcd3:\n  hosts: [${hosts.join(', ')}]\n`);
  return ctl;
}

/** `pghactl list -f json` from `bin` against the live cluster. */
async function listedBy(bin: string): Promise<Array<[unknown, unknown, unknown]>> {
  const r = await exec(bin, ['-c', await ctlFile(), 'list', '-f', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as Array<Record<string, unknown>>).map((row) => [row['Member'], row['Role'], row['State']]);
}

describe('npm tarballs', { timeout: 240_000 }, () => {
  it('one per publishable package, workspace:* replaced by the version', async () => {
    expect(packed.packages.map((p) => p.name)).toEqual([
      '@pgha/agent', '@pgha/cli', '@pgha/dcs', '@pgha/dcs-etcd', '@pgha/dcs-zookeeper',
      '@pgha/ha-engine', '@pgha/postgres-controller', '@pgha/primitives', '@pgha/rest-api', '@pgha/watchdog',
    ]);
    const agentTarball = packed.tarballs[0]!;
    const { stdout } = await run('tar', ['-xOzf', agentTarball, 'package/package.json']);
    const manifest = JSON.parse(stdout) as { version: string; dependencies: Record<string, string> };
    const workspaceDeps = Object.entries(manifest.dependencies).filter(([name]) => name.startsWith('@pgha/'));
    expect(workspaceDeps.length).toBeGreaterThan(0);
    expect(workspaceDeps.filter(([, spec]) => spec !== manifest.version)).toEqual([]);
  });

  it('npm install -g into an empty prefix: pgha --version, --validate-config, pghactl --help', async () => {
    expect(npmInstall.code, npmInstall.stderr).toBe(0);
    const version = await exec(join(prefix, 'bin/pgha'), ['--version']);
    expect(version.stdout).toMatch(/^pgha \d+\.\d+\.\d+ \(Patroni 3\.0\.2 compatible\)\n$/);
    const valid = await exec(join(prefix, 'bin/pgha'), ['--validate-config', EXAMPLE]);
    expect([valid.code, valid.stdout, valid.stderr]).toEqual([0, `${EXAMPLE}: configuration is valid\n`, '']);
    const help = await exec(join(prefix, 'bin/pghactl'), ['--help']);
    expect([help.code, help.stdout.split('\n')[0]]).toEqual([0, 'Usage: pghactl [OPTIONS] COMMAND [ARGS]...']);
  });

  it('pghactl from the prefix lists the live cluster', async () => {
    expect(await listedBy(join(prefix, 'bin/pghactl'))).toEqual([[cluster!.members[0]!.name, 'Leader', 'running']]);
  });

  it('pghactl dashboard from the prefix serves its page and uPlot, and names the leader', async () => {
    const served = await dashboardServes(join(prefix, 'bin/pghactl'), await ctlFile());
    expect([served.page, served.uplot, served.leader], served.output).toEqual([200, 200, cluster!.members[0]!.name]);
  });
});

describe('Debian package', { timeout: 240_000 }, () => {
  it('is pgha_<version>_<arch>.deb with the control fields and the files of a package', async () => {
    expect(deb.path).toMatch(/\/pgha_\d+\.\d+\.\d+_[a-z0-9]+\.deb$/);
    const field = async (name: string) => (await run('dpkg-deb', ['-f', deb.path, name])).stdout.trim();
    expect(await field('Package')).toBe('pgha');
    expect(await field('Depends')).toMatch(/^nodejs \(>= (\d+)\), nodejs \(<< \d+\)$/);
    const files = (await run('dpkg-deb', ['-c', deb.path], { maxBuffer: 16 * 1024 * 1024 })).stdout;
    for (const path of ['./usr/bin/pgha', './usr/bin/pghactl', './etc/pgha/pgha.yml.example', './lib/systemd/system/pgha.service', `./${BUNDLE_DIR}/node_modules/@pgha/agent/dist/bin.js`, `./${BUNDLE_DIR}/node_modules/@pgha/cli/dist/dashboard/static/index.html`]) {
      expect(files).toContain(` ${path}\n`);
    }
    expect((await run('dpkg-deb', ['-I', deb.path, 'conffiles'])).stdout).toBe('/etc/pgha/pgha.yml.example\n');
  });

  it('dpkg --root installs it; the installed pgha runs: --version, --help, --validate-config of the example', async () => {
    expect(dpkg.code, dpkg.stderr).toBe(0);
    const pgha = join(root, 'usr/bin/pgha');
    expect((await exec(pgha, ['--version'])).stdout).toMatch(/^pgha \d+\.\d+\.\d+ \(Patroni 3\.0\.2 compatible\)\n$/);
    expect((await exec(pgha, ['--help'])).stdout).toContain('/etc/pgha/pgha.yml.example');
    const example = join(root, 'etc/pgha/pgha.yml.example');
    const valid = await exec(pgha, ['--validate-config', example]);
    expect([valid.code, valid.stdout, valid.stderr]).toEqual([0, `${example}: configuration is valid\n`, '']);
    expect(await readFile(example, 'utf8')).toBe(await readFile(EXAMPLE, 'utf8'));
  });

  it('the bundled native addons were built for this machine and load', async () => {
    const bundle = join(root, BUNDLE_DIR);
    const script = `const r = require('node:module').createRequire(${JSON.stringify(`${bundle}/`)}); for (const m of ${JSON.stringify(NATIVE_ADDONS)}) r(m); console.log('loaded')`;
    const loaded = await exec('/usr/bin/node', ['-e', script]);
    expect([loaded.code, loaded.stdout, loaded.stderr]).toEqual([0, 'loaded\n', '']);
  });

  it('systemd-analyze verify finds nothing to say about the unit', async () => {
    const { ran, complaints } = await verifyUnit(root, 'pgha.service');
    expect(complaints).toEqual([]);
    expect(ran.code).toBe(0);
    const unit = await readFile(join(root, 'lib/systemd/system/pgha.service'), 'utf8');
    for (const line of ['Type=notify', 'NotifyAccess=main', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillMode=process', 'User=postgres', 'NoNewPrivileges=yes', 'PrivateTmp=yes']) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  it('the installed pghactl lists the live cluster', async () => {
    expect(await listedBy(join(root, 'usr/bin/pghactl'))).toEqual([[cluster!.members[0]!.name, 'Leader', 'running']]);
  });

  it('the installed pghactl dashboard serves its page and uPlot, and names the leader', async () => {
    const served = await dashboardServes(join(root, 'usr/bin/pghactl'), await ctlFile());
    expect([served.page, served.uplot, served.leader], served.output).toEqual([200, 200, cluster!.members[0]!.name]);
  });
});
