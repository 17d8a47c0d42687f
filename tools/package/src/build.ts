/**
 * One release build: compile what is stale, `pnpm pack` the publishable packages into
 * `<out>/npm/`, and build the Debian package from those tarballs into `<out>/`.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonBuildEnv } from './command.js';
import { buildDeb, type BuiltDeb } from './deb.js';
import { lockedVersions } from './lockfile-pins.js';
import { compileStale, packTarballs, publishablePackages, type WorkspacePackage } from './workspace.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface BuildOptions {
  /** Where the artifacts go. */
  outDir: string;
  /** Compile every package, not only those whose dist is stale. */
  rebuild?: boolean;
  /** Build the npm tarballs only. */
  npmOnly?: boolean;
  root?: string;
  env?: NodeJS.ProcessEnv;
}

export interface BuiltPackages {
  packages: WorkspacePackage[];
  /** Tarball paths, in the order of `packages`. */
  tarballs: string[];
  deb: BuiltDeb | null;
  /** The packages that had to be compiled first. */
  compiled: string[];
}

export async function buildPackages(options: BuildOptions): Promise<BuiltPackages> {
  const root = options.root ?? REPO_ROOT;
  const packages = await publishablePackages(root);
  const compiled = await compileStale(root, packages, options.rebuild);
  const npmDir = join(options.outDir, 'npm');
  await rm(npmDir, { recursive: true, force: true });
  await mkdir(npmDir, { recursive: true });
  const tarballs = await packTarballs(packages, npmDir);
  if (options.npmOnly) return { packages, tarballs, deb: null, compiled };

  const stageDir = await mkdtemp(join(tmpdir(), 'pgha-deb-'));
  try {
    const deb = await buildDeb({
      root,
      packages,
      tarballs,
      outDir: options.outDir,
      stageDir,
      pins: await lockedVersions(root, ['@pgha/agent', '@pgha/cli']),
      env: addonBuildEnv(options.env ?? process.env, existsSync('/usr/include/node/node.h')),
    });
    return { packages, tarballs, deb, compiled };
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}
