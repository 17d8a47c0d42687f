/**
 * The versions the workspace's lockfile resolved for the bundle's dependencies, as npm
 * `overrides`: the Debian package then ships the dependency versions the test suite ran
 * against, not whatever the registry has newest within the ranges on the day of the build.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './command.js';

interface ListedNode {
  version?: string;
  path?: string;
  dependencies?: Record<string, ListedNode>;
}

async function peerNames(dir: string | undefined): Promise<Set<string>> {
  if (dir === undefined) return new Set();
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string> };
    return new Set(Object.keys(manifest.peerDependencies ?? {}));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw e;
  }
}

/**
 * name → version for every production dependency under `packages` (workspace packages left out:
 * they come from the tarballs). Peer dependencies are not followed: `pnpm list` shows the
 * optional `vitest` peer of @pgha/dcs because the workspace has it, but an install does not.
 * A name resolved to more than one version is left out, since an override applies to every copy.
 */
export async function lockedVersions(root: string, packages: string[]): Promise<Record<string, string>> {
  const listed = JSON.parse(
    await run('pnpm', ['list', '--prod', '--depth', 'Infinity', '--json', ...packages.flatMap((p) => ['--filter', p])], { cwd: root }),
  ) as ListedNode[];
  const versions = new Map<string, Set<string>>();
  const visited = new Set<string>();
  async function walk(node: ListedNode): Promise<void> {
    const key = node.path ?? '';
    if (visited.has(key)) return;
    visited.add(key);
    const peers = await peerNames(node.path);
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      if (peers.has(name)) continue;
      if (child.version !== undefined && !child.version.startsWith('link:')) {
        versions.set(name, (versions.get(name) ?? new Set()).add(child.version));
      }
      await walk(child);
    }
  }
  for (const top of listed) await walk(top);
  const pins: Record<string, string> = {};
  for (const [name, found] of [...versions].sort(([a], [b]) => a.localeCompare(b))) {
    if (found.size === 1) pins[name] = [...found][0]!;
  }
  return pins;
}
