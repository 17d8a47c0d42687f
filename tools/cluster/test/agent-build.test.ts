import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agentFrom, binArgs, distIsCurrent, runsFromDist } from '../src/agent-build.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A `packages/` folder whose files carry the given modification times (seconds). */
function workspace(files: Record<string, number>): string {
  const root = mkdtempSync(join(tmpdir(), 'agent-build-'));
  roots.push(root);
  for (const [path, mtime] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, '');
    utimesSync(full, mtime, mtime);
  }
  return root;
}

describe('which copy of pgha a local cluster runs', () => {
  it('reads PGHA_AGENT_FROM, source by default, and refuses anything else', () => {
    expect(agentFrom({})).toBe('source');
    expect(agentFrom({ PGHA_AGENT_FROM: 'auto' })).toBe('auto');
    expect(() => agentFrom({ PGHA_AGENT_FROM: 'built' })).toThrow(/source, dist or auto, got "built"/);
  });

  it('takes the build only when every package was built after its newest source', () => {
    expect(distIsCurrent(workspace({ 'a/src/x.ts': 100, 'a/dist/x.js': 200, 'b/src/deep/y.ts': 150, 'b/dist/y.js': 300, 'e2e/test/t.ts': 900 }))).toBe(true);
    // One source edited after the build.
    expect(distIsCurrent(workspace({ 'a/src/x.ts': 100, 'a/dist/x.js': 200, 'b/src/deep/y.ts': 350, 'b/dist/y.js': 300 }))).toBe(false);
    // A file of the build older than a source (a partial rebuild).
    expect(distIsCurrent(workspace({ 'a/src/x.ts': 100, 'a/dist/x.js': 200, 'a/dist/old.js': 50 }))).toBe(false);
    // A package never built.
    expect(distIsCurrent(workspace({ 'a/src/x.ts': 100, 'a/dist/x.js': 200, 'b/src/y.ts': 100 }))).toBe(false);
  });

  it('names the build or the sources (through tsx) of the agent and the CLI', () => {
    expect(runsFromDist('dist', '/nowhere')).toBe(true);
    expect(runsFromDist('source', '/nowhere')).toBe(false);
    expect(binArgs('cli', '/repo', true)).toEqual(['/repo/packages/cli/dist/bin.js']);
    const source = binArgs('agent', '/repo', false);
    expect(source.slice(0, 2)).toEqual(['--conditions=@pgha/source', '--import']);
    expect(source[2]).toMatch(/^file:.*tsx/);
    expect(source[3]).toBe('/repo/packages/agent/src/bin.ts');
  });
});
