/**
 * Which copy of pgha a local cluster runs. The TypeScript sources (through tsx) always match the
 * checkout; the built `dist` starts with a third of the CPU (about 0.5 s against 1.6 s per agent
 * start on the development machine) and less memory, which adds up over the hundreds of agent
 * starts of the e2e suite on two cores. PGHA_AGENT_FROM picks: `source` (the default), `dist`,
 * or `auto` — dist when every package's build is newer than its sources, else source — so a
 * stale build never runs in place of an edited file. The e2e projects set `auto`.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type AgentFrom = 'source' | 'dist' | 'auto';

export function agentFrom(env: NodeJS.ProcessEnv = process.env): AgentFrom {
  const named = env['PGHA_AGENT_FROM'] ?? 'source';
  if (named === 'source' || named === 'dist' || named === 'auto') return named;
  throw new Error(`PGHA_AGENT_FROM must be source, dist or auto, got ${JSON.stringify(named)}`);
}

let current: boolean | undefined;

/** Whether the agent should start from `dist`, for `from` and the workspace at `repoRoot` (checked once per process). */
export function runsFromDist(from: AgentFrom, repoRoot: string): boolean {
  if (from !== 'auto') return from === 'dist';
  current ??= distIsCurrent(join(repoRoot, 'packages'));
  return current;
}

/**
 * The node arguments that run a workspace package's command (`pgha` or `pghactl`): its built
 * `dist/bin.js`, or `src/bin.ts` through tsx. tsx is named by absolute URL: the agent's working
 * directory is its data folder, outside the workspace.
 */
export function binArgs(pkg: 'agent' | 'cli', repoRoot: string, fromDist: boolean): string[] {
  if (fromDist) return [join(repoRoot, 'packages', pkg, 'dist/bin.js')];
  return ['--conditions=@pgha/source', '--import', import.meta.resolve('tsx'), join(repoRoot, 'packages', pkg, 'src/bin.ts')];
}

/** Every package with a `src` has a `dist` whose oldest file is newer than its newest source. */
export function distIsCurrent(packagesDir: string): boolean {
  for (const name of readdirSync(packagesDir)) {
    const src = join(packagesDir, name, 'src');
    const dist = join(packagesDir, name, 'dist');
    if (!exists(src)) continue;
    if (!exists(dist)) return false;
    if (newest(src) >= oldest(dist)) return false;
  }
  return true;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

const newest = (dir: string): number => Math.max(0, ...files(dir).map((f) => statSync(f).mtimeMs));
const oldest = (dir: string): number => Math.min(Infinity, ...files(dir).map((f) => statSync(f).mtimeMs));
