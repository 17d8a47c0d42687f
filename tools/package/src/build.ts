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
  root?: string;
  env?: NodeJS.ProcessEnv;
}

export interface PackedWorkspace {
  packages: WorkspacePackage[];
  /** Tarball paths, in the order of `packages`. */
  tarballs: string[];
  /** The packages that had to be compiled first. */
  compiled: string[];
}

export interface BuiltPackages extends PackedWorkspace {
  deb: BuiltDeb | null;
}

/** The environment npm builds native addons in, from `env` (default this process's). */
export function npmEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return addonBuildEnv(env, existsSync('/usr/include/node/node.h'));
}

/** Compiles what is stale and packs the publishable packages into `<out>/npm/` (emptied first). */
export async function packWorkspace(options: BuildOptions): Promise<PackedWorkspace> {
  const root = options.root ?? REPO_ROOT;
  const packages = await publishablePackages(root);
  const compiled = await compileStale(root, packages, options.rebuild);
  const npmDir = join(options.outDir, 'npm');
  await rm(npmDir, { recursive: true, force: true });
  await mkdir(npmDir, { recursive: true });
  return { packages, tarballs: await packTarballs(packages, npmDir), compiled };
}

/** The Debian package from packed tarballs, into `<out>/`; staged in a temporary directory. */
export async function debFromTarballs(packed: PackedWorkspace, options: BuildOptions): Promise<BuiltDeb> {
  const root = options.root ?? REPO_ROOT;
  const stageDir = await mkdtemp(join(tmpdir(), 'pgha-deb-'));
  try {
    return await buildDeb({
      root,
      packages: packed.packages,
      tarballs: packed.tarballs,
      outDir: options.outDir,
      stageDir,
      pins: await lockedVersions(root, ['@pgha/agent', '@pgha/cli']),
      env: npmEnv(options.env),
    });
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}

export async function buildPackages(options: BuildOptions & { npmOnly?: boolean }): Promise<BuiltPackages> {
  const packed = await packWorkspace(options);
  return { ...packed, deb: options.npmOnly ? null : await debFromTarballs(packed, options) };
}
