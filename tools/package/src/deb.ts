/**
 * The Debian package `pgha`: the agent and pghactl under /usr/lib/pgha with every dependency
 * installed by npm from the tarballs (so the native addons, zookeeper and unix-dgram, are built
 * for this machine's Node), wrappers in /usr/bin, the example configuration in /etc/pgha, the
 * systemd unit and the operations guide. Built with `dpkg-deb --build` from a staging tree: no
 * debhelper, no pnpm and no workspace on the target.
 */
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './command.js';
import type { WorkspacePackage } from './workspace.js';

const FILES = join(dirname(fileURLToPath(import.meta.url)), '../files');

/** The Node the wrappers run and npm builds the addons with: Debian's (package `nodejs`). */
export const SYSTEM_NODE = '/usr/bin/node';
/** Where the bundle lives on the target. */
export const BUNDLE_DIR = 'usr/lib/pgha';
const MAINTAINER = 'pgha maintainers <maintainers@pgha.invalid>';
/** Dependencies whose install scripts build the native addons. */
export const NATIVE_ADDONS = ['zookeeper', 'unix-dgram'];

export interface DebOptions {
  root: string;
  /** The publishable packages and their tarballs, in the same order. */
  packages: WorkspacePackage[];
  tarballs: string[];
  /** Directory the .deb is written to. */
  outDir: string;
  /** An empty directory to stage the package's tree in. */
  stageDir: string;
  /** npm `overrides`: the lockfile's versions (lockfile-pins.ts). */
  pins: Record<string, string>;
  /** The environment npm runs in (addonBuildEnv). */
  env: NodeJS.ProcessEnv;
}

export interface BuiltDeb {
  path: string;
  version: string;
  architecture: string;
  /** Installed-Size of the control file, KiB. */
  installedKiB: number;
}

/**
 * `/usr/bin/<name>`: runs the package's `bin` with the system Node and the Node flags of the
 * bin's own `#!/usr/bin/env -S node ...` line (the agent's memory settings). It finds the bundle
 * from its own path, so a copy unpacked under another root (dpkg --root, a test) runs its own.
 */
export function wrapperScript(name: string, binPath: string, shebang: string): string {
  const m = /^#!\/usr\/bin\/env (?:-S )?node((?: +--?[\w=-]+)*) *$/.exec(shebang);
  if (!m) throw new Error(`${binPath}: unexpected first line ${JSON.stringify(shebang)} (expected #!/usr/bin/env [-S] node [flags])`);
  const flags = m[1]!.trim();
  return `#!/bin/sh
# ${name}, from the pgha package: ${SYSTEM_NODE}, the Node its native addons were built for,
# runs the bundle in ../lib/pgha (found from this script's own location).
bundle=$(dirname "$(readlink -f "$0")")/../lib/pgha
exec ${SYSTEM_NODE}${flags ? ` ${flags}` : ''} "$bundle/${binPath}" "$@"
`;
}

/**
 * Files npm leaves that only the addons' compilation needed: the ZooKeeper C client's sources
 * (linked statically into zookeeper.node), zookeeper's macOS and Windows prebuilds, and the
 * compilers' object files.
 */
async function pruneBuildLeftovers(nodeModules: string): Promise<void> {
  await rm(join(nodeModules, 'zookeeper/deps'), { recursive: true, force: true });
  await rm(join(nodeModules, 'zookeeper/prebuilds'), { recursive: true, force: true });
  for (const addon of NATIVE_ADDONS) {
    for (const leftover of ['build/Release/obj.target', 'build/Release/.deps']) {
      await rm(join(nodeModules, addon, leftover), { recursive: true, force: true });
    }
  }
}

/** Modes as Debian policy wants them: directories 755, files 644, executables 755 (npm leaves the umask's). */
async function normaliseModes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) {
    await chmod(path, info.mode & 0o111 ? 0o755 : 0o644);
    return info.size;
  }
  await chmod(path, 0o755);
  let size = 0;
  for (const name of await readdir(path)) size += await normaliseModes(join(path, name));
  return size;
}

/**
 * DEBIAN/control. Node is bounded to the build's major version: unix-dgram's addon is built
 * against that Node's ABI (NODE_MODULE_VERSION) and does not load in another.
 */
function controlFile(fields: { version: string; architecture: string; nodeMajor: number; installedKiB: number }): string {
  return `Package: pgha
Version: ${fields.version}
Architecture: ${fields.architecture}
Maintainer: ${MAINTAINER}
Installed-Size: ${fields.installedKiB}
Depends: nodejs (>= ${fields.nodeMajor}), nodejs (<< ${fields.nodeMajor + 1})
Recommends: postgresql
Suggests: etcd-server, etcd-client, zookeeper
Section: database
Priority: optional
Description: PostgreSQL high-availability agent, a drop-in replacement for Patroni
 One pgha agent runs beside each PostgreSQL server. The agents agree on the
 primary through etcd v3 or ZooKeeper, promote a replica when the primary
 fails, rejoin the old primary, and serve a Patroni-compatible REST API.
 A Patroni YAML file starts pgha unchanged; pghactl is the patronictl-
 compatible command line.
`;
}

/** Builds pgha_<version>_<arch>.deb into `outDir`. */
export async function buildDeb(options: DebOptions): Promise<BuiltDeb> {
  const { stageDir } = options;
  const agent = options.packages.find((p) => p.name === '@pgha/agent');
  const cli = options.packages.find((p) => p.name === '@pgha/cli');
  if (!agent || !cli) throw new Error('the Debian package needs @pgha/agent and @pgha/cli among the publishable packages');
  const version = agent.version;
  const architecture = (await run('dpkg', ['--print-architecture'], { cwd: options.root })).trim();
  // The addons are built for the Node that runs npm: make that the system Node.
  const env = { ...options.env, PATH: `${dirname(SYSTEM_NODE)}:${options.env['PATH'] ?? ''}` };
  const nodeMajor = Number((await run(SYSTEM_NODE, ['-p', 'process.versions.node'], { cwd: options.root, env })).split('.')[0]);

  const bundle = join(stageDir, BUNDLE_DIR);
  await mkdir(bundle, { recursive: true });
  const manifest = {
    name: 'pgha-bundle',
    version,
    private: true,
    description: 'pgha agent and pghactl with their dependencies, as the Debian package installs them',
    overrides: options.pins,
    // npm 11 runs no dependency's install script unless allowed here (--allow-scripts is for
    // global installs only). protobufjs's postinstall only checks its dependents' version ranges.
    allowScripts: { ...Object.fromEntries(NATIVE_ADDONS.map((name) => [name, true])), protobufjs: false },
  };
  // The manifest also makes this directory npm's project root (npm would otherwise look upwards).
  await writeFile(join(bundle, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await run(
    'npm',
    ['install', '--omit=dev', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...options.tarballs],
    { cwd: bundle, env },
  );
  // What is installed, by version (the tarballs' paths are the build machine's).
  const dependencies = Object.fromEntries(options.packages.map((p) => [p.name, p.version]));
  await writeFile(join(bundle, 'package.json'), `${JSON.stringify({ ...manifest, dependencies }, null, 2)}\n`);
  await pruneBuildLeftovers(join(bundle, 'node_modules'));

  for (const [pkg, command] of [[agent, 'pgha'], [cli, 'pghactl']] as const) {
    const binPath = `node_modules/${pkg.name}/${pkg.bin[command]?.replace(/^\.\//, '')}`;
    if (pkg.bin[command] === undefined) throw new Error(`${pkg.name} has no bin ${command}`);
    const shebang = (await readFile(join(bundle, binPath), 'utf8')).split('\n')[0]!;
    await mkdir(join(stageDir, 'usr/bin'), { recursive: true });
    await writeFile(join(stageDir, 'usr/bin', command), wrapperScript(command, binPath, shebang), { mode: 0o755 });
  }
  const place = async (from: string, to: string): Promise<void> => {
    await mkdir(dirname(join(stageDir, to)), { recursive: true });
    await copyFile(from, join(stageDir, to));
  };
  await place(join(FILES, 'pgha.yml.example'), 'etc/pgha/pgha.yml.example');
  await place(join(FILES, 'pgha.service'), 'lib/systemd/system/pgha.service');
  await place(join(FILES, 'copyright'), 'usr/share/doc/pgha/copyright');
  await place(join(options.root, 'docs/operations.md'), 'usr/share/doc/pgha/operations.md');

  const bytes = await normaliseModes(stageDir);
  const installedKiB = Math.ceil(bytes / 1024);
  await mkdir(join(stageDir, 'DEBIAN'), { recursive: true });
  await writeFile(join(stageDir, 'DEBIAN/control'), controlFile({ version, architecture, nodeMajor, installedKiB }));
  // Files under /etc are configuration: an upgrade keeps the administrator's edits.
  await writeFile(join(stageDir, 'DEBIAN/conffiles'), '/etc/pgha/pgha.yml.example\n');

  await mkdir(options.outDir, { recursive: true });
  const path = join(options.outDir, `pgha_${version}_${architecture}.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stageDir, path], { cwd: options.root });
  return { path, version, architecture, installedKiB };
}
