// The /usr/bin wrappers: the system Node, the bin's own Node flags, the bundle found from the script's location.
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SYSTEM_NODE, wrapperScript } from '../src/deb.ts';

const run = promisify(execFile);

describe('wrapperScript', () => {
  it('runs the bin with the flags of its #! line, or none', () => {
    const agent = wrapperScript('pgha', 'node_modules/@pgha/agent/dist/bin.js', '#!/usr/bin/env -S node --max-semi-space-size=1 --single-threaded');
    expect(agent.split('\n').at(-2)).toBe(`exec ${SYSTEM_NODE} --max-semi-space-size=1 --single-threaded "$bundle/node_modules/@pgha/agent/dist/bin.js" "$@"`);
    const cli = wrapperScript('pghactl', 'node_modules/@pgha/cli/dist/bin.js', '#!/usr/bin/env node');
    expect(cli.split('\n').at(-2)).toBe(`exec ${SYSTEM_NODE} "$bundle/node_modules/@pgha/cli/dist/bin.js" "$@"`);
  });

  it('refuses a #! line it does not understand rather than drop its flags', () => {
    expect(() => wrapperScript('pgha', 'bin.js', '#!/usr/local/bin/node --flag')).toThrow(/unexpected first line/);
  });

  it('finds the bundle from its own location, also through a symlink and under another root', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pgha-wrapper-'));
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await mkdir(join(root, 'usr/lib/pgha'), { recursive: true });
    await writeFile(join(root, 'usr/lib/pgha/bin.js'), 'console.log(JSON.stringify([process.execPath, process.execArgv, process.argv.slice(2)]));\n');
    await writeFile(join(root, 'usr/bin/pgha'), wrapperScript('pgha', 'bin.js', '#!/usr/bin/env -S node --optimize-for-size'));
    await chmod(join(root, 'usr/bin/pgha'), 0o755);
    await symlink(join(root, 'usr/bin/pgha'), join(root, 'pgha-link'));
    for (const command of [join(root, 'usr/bin/pgha'), join(root, 'pgha-link')]) {
      const { stdout } = await run(command, ['a b', '--version'], { env: { PATH: '/usr/bin:/bin' } });
      expect(JSON.parse(stdout)).toEqual([realpathSync(SYSTEM_NODE), ['--optimize-for-size'], ['a b', '--version']]);
    }
  });
});
