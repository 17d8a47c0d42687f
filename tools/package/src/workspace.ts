/**
 * The workspace side of a release: which packages are published, compiling those whose `dist`
 * is older than their sources, and `pnpm pack`, which turns `workspace:*` into the versions.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './command.js';

export interface WorkspacePackage {
  name: string;
  version: string;
  dir: string;
  /** `bin` of package.json: command name → path inside the package. */
  bin: Record<string, string>;
}

/** The packages under packages/ that are not private: what goes to npm and into the Debian package. */
export async function publishablePackages(root: string): Promise<WorkspacePackage[]> {
  const found: WorkspacePackage[] = [];
  for (const entry of (await readdir(join(root, 'packages'), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, 'packages', entry.name);
    let manifest: { name: string; version: string; private?: boolean; bin?: Record<string, string> };
    try {
      manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as typeof manifest;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (manifest.private === true) continue;
    found.push({ name: manifest.name, version: manifest.version, dir, bin: manifest.bin ?? {} });
  }
  return found;
}

/** Newest (or oldest) modification time of the files under `path`, or null when there are none. */
async function mtimeOf(path: string, pick: (a: number, b: number) => number): Promise<number | null> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let result: number | null = null;
  for (const name of await readdir(path)) {
    const m = await mtimeOf(join(path, name), pick);
    if (m !== null) result = result === null ? m : pick(result, m);
  }
  return result;
}

/** Files outside a package that shape every package's build (tsup.shared.ts, the base tsconfig). */
const SHARED_BUILD_INPUTS = ['tsup.shared.ts', 'tsconfig.base.json'];
const PACKAGE_BUILD_INPUTS = ['src', 'package.json', 'tsup.config.ts', 'tsconfig.json', 'tsconfig.build.json'];

/**
 * Whether `pkg`'s `dist` misses or predates one of its build inputs. Each package's `dist` holds
 * its own code only (tsup keeps workspace dependencies external), so its own inputs decide.
 */
export async function isStale(root: string, pkg: WorkspacePackage): Promise<boolean> {
  const built = await mtimeOf(join(pkg.dir, 'dist'), Math.min);
  if (built === null) return true;
  const inputs = [...SHARED_BUILD_INPUTS.map((f) => join(root, f)), ...PACKAGE_BUILD_INPUTS.map((f) => join(pkg.dir, f))];
  for (const input of inputs) {
    const changed = await mtimeOf(input, Math.max);
    if (changed !== null && changed > built) return true;
  }
  return false;
}

/**
 * Compiles the packages whose `dist` is stale (all of them with `force`), in dependency order
 * (pnpm sorts filtered runs topologically). Returns the names compiled. CI's setup has just run
 * the whole build, so there this is a check that costs a directory walk.
 */
export async function compileStale(root: string, packages: WorkspacePackage[], force = false): Promise<string[]> {
  const stale: string[] = [];
  for (const pkg of packages) if (force || (await isStale(root, pkg))) stale.push(pkg.name);
  if (stale.length > 0) await run('pnpm', [...stale.flatMap((name) => ['--filter', name]), 'run', 'build'], { cwd: root });
  return stale;
}

/** `pnpm pack` of each package into `dir`; the tarballs' paths, in the order of `packages`. */
export async function packTarballs(packages: WorkspacePackage[], dir: string): Promise<string[]> {
  return Promise.all(
    packages.map(async (pkg) => {
      const out = await run('pnpm', ['pack', '--pack-destination', dir], { cwd: pkg.dir });
      const tarball = out.trim().split('\n').reverse().find((line) => line.trim().endsWith('.tgz'));
      if (!tarball) throw new Error(`pnpm pack in ${pkg.dir} named no tarball:\n${out}`);
      return tarball.trim();
    }),
  );
}
