import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../src/bin.ts');

async function pgha(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--conditions=@pgha/source', '--import', 'tsx', BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const VALID = `scope: demo
name: pg0
restapi: {listen: 127.0.0.1:8008}
etcd3: {hosts: 127.0.0.1:2379}
postgresql: {listen: 127.0.0.1:5432, data_dir: /tmp/pgha-never-used}
`;

describe('pgha command line', () => {
  it('--validate-config accepts a valid file and names every problem of an invalid one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgha-bin-'));
    await writeFile(join(dir, 'ok.yml'), VALID);
    await writeFile(join(dir, 'bad.yml'), VALID.replace('127.0.0.1:8008', 'nowhere').replace('name: pg0\n', ''));
    const ok = await pgha(['--validate-config', join(dir, 'ok.yml')]);
    expect([ok.code, ok.stdout.trim()]).toEqual([0, `${join(dir, 'ok.yml')}: configuration is valid`]);
    const bad = await pgha(['--validate-config', join(dir, 'bad.yml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('restapi.listen: expected host:port');
    expect(bad.stderr).toMatch(/name: /);
  });

  it('refuses restapi.verify_client without restapi.cafile, naming the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgha-bin-'));
    const file = join(dir, 'verify.yml');
    await writeFile(file, VALID.replace('restapi: {listen: 127.0.0.1:8008}', 'restapi: {listen: 127.0.0.1:8008, certfile: /etc/ssl/x.pem, verify_client: required}'));
    const res = await pgha(['--validate-config', file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('restapi.verify_client: required needs restapi.cafile');
  });

  it('takes the whole configuration from PATRONI_CONFIGURATION', async () => {
    const res = await pgha(['--validate-config'], { PATRONI_CONFIGURATION: VALID });
    expect([res.code, res.stdout.trim()]).toEqual([0, 'PATRONI_CONFIGURATION: configuration is valid']);
  });

  it('prints its version and rejects unknown options', async () => {
    expect((await pgha(['--version'])).stdout).toMatch(/^pgha \d+\.\d+\.\d+ \(Patroni 3\.0\.2 compatible\)/);
    const unknown = await pgha(['--frobnicate', 'x.yml']);
    expect([unknown.code, unknown.stderr.split('\n')[0]]).toEqual([2, 'pgha: unknown option --frobnicate']);
  });

  it('--help prints the manual page: its sections, every option, the signals and exit codes', async () => {
    const help = await pgha(['--help']);
    expect(help.code).toBe(0);
    const sections = help.stdout.split('\n').filter((l) => /^[A-Z][A-Z ]+$/.test(l));
    expect(sections).toEqual(['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'FILES', 'ENVIRONMENT', 'SIGNALS', 'EXIT STATUS', 'SEE ALSO']);
    for (const word of ['--validate-config', '--version', 'SIGHUP', 'SIGTERM', '/etc/pgha/pgha.yml', 'NOTIFY_SOCKET']) expect(help.stdout).toContain(word);
    expect((await pgha(['-h'])).stdout).toBe(help.stdout);
  });

  it('watchdog mode required with a device but no python3 for its ioctls: refuses to start, with the code (issue 15)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgha-bin-'));
    // /dev/null stands in for a device that is there and writable; the DCS is never reached.
    const config = VALID.replace('127.0.0.1:2379', '127.0.0.1:9').replace('127.0.0.1:8008', '127.0.0.1:9') + 'watchdog: {mode: required, device: /dev/null}\n';
    await writeFile(join(dir, 'wd.yml'), config);
    const res = await pgha([join(dir, 'wd.yml')], { PGHA_WATCHDOG_PYTHON: join(dir, 'no-python3') });
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n').pop()).toBe(
      `pgha: cannot issue ioctls to watchdog device /dev/null: cannot run ${join(dir, 'no-python3')} to issue watchdog ioctls: spawn ${join(dir, 'no-python3')} ENOENT (set PGHA_WATCHDOG_PYTHON to a python3) (WATCHDOG_IOCTL_UNAVAILABLE)`,
    );
  });

  it('fails clearly on a missing file', async () => {
    const res = await pgha(['/nonexistent/pgha.yml']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe('pgha: /nonexistent/pgha.yml: cannot read the configuration (ENOENT)');
  });
});
