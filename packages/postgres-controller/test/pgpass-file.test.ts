/**
 * Issue 16 (review M8): the .pgpass file lives where no other local user can take its place. The
 * old default was the predictable `/tmp/pgpass.pgha.<scope>.<name>`: a user who created it first
 * made the agent's rename fail with EPERM (PostgreSQL never started), and a symlink there invited
 * the write elsewhere. The PostgreSQL runs start the controller as the `postgres` OS user, as a
 * production agent runs, with `nobody` as the other local user.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, lchown, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPostgresError, type RunAs } from '../src/index.js';
import { defaultPgpassPath, directoryRisk, locatePgpass, removePgpassLocation, writePgpassFile } from '../src/pgpass-file.js';
import { freePort, ownedTempDir, postgresBinDir, postgresUser } from './fixtures/postgres.js';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, 'fixtures/start-as-owner.ts');
const NOBODY = { uid: 65534, gid: 65534 };
const SUPERUSER_PASSWORD = 'su-Pgpass-5120';

let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
const planted: string[] = [];

/** A path in /tmp created by `nobody`, as an attacker would. */
async function plant(path: string, kind: { symlinkTo: string } | { content: string }): Promise<void> {
  planted.push(path);
  if ('symlinkTo' in kind) await symlink(kind.symlinkTo, path);
  else await writeFile(path, kind.content, { mode: 0o644 });
  await lchown(path, NOBODY.uid, NOBODY.gid);
}

/** Bootstraps and starts a server as the postgres user in a child process; its JSON report. */
async function startAsPostgres(input: { scope: string; name: string; postgresql: Record<string, unknown> }): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['--conditions=@pgha/source', '--import', 'tsx', SCRIPT, JSON.stringify(input)], {
    cwd: resolve(import.meta.dirname, '..'),
    uid: runAs!.uid,
    gid: runAs!.gid,
    env: { ...process.env, HOME: '/var/lib/postgresql' },
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

async function section(name: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const port = await freePort();
  return {
    listen: `127.0.0.1:${port}`,
    data_dir: join(dir.path, name, 'data'),
    bin_dir: await postgresBinDir(),
    use_unix_socket: true,
    authentication: { superuser: { username: 'postgres', password: SUPERUSER_PASSWORD } },
    parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off' },
    pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 scram-sha-256'],
    ...extra,
  };
}

const warnings: string[] = [];
const logger = { warn: (_: object, msg: string) => warnings.push(msg) };

beforeAll(async () => {
  // Planting files as `nobody` and starting PostgreSQL as `postgres` needs root, as the suite runs.
  if (process.getuid?.() !== 0) throw new Error('pgpass-file.test.ts must run as root (it plants files as nobody and starts PostgreSQL as postgres)');
  runAs = await postgresUser();
  dir = await ownedTempDir('pgpass', runAs);
});

afterAll(async () => {
  for (const path of planted) await rm(path, { force: true });
  await dir?.remove();
});

describe('the .pgpass file of a PostgreSQL started by the postgres user', () => {
  it('ignores a symlink or a file another user planted at the old /tmp path', async () => {
    const scope = `m8-${randomBytes(4).toString('hex')}`;
    const victim = join(tmpdir(), `pgha-m8-victim-${randomBytes(4).toString('hex')}`);
    await plant(victim, { content: '' });
    await chmod(victim, 0o666); // the attacker would read whatever a followed symlink wrote here
    await plant(join(tmpdir(), `pgpass.pgha.${scope}.pg0`), { symlinkTo: victim });
    await plant(join(tmpdir(), `pgpass.pgha.${scope}.pg1`), { content: 'attacker\n' });

    for (const name of ['pg0', 'pg1']) {
      const postgresql = await section(name);
      const report = await startAsPostgres({ scope, name, postgresql });
      expect(report).toMatchObject({ ok: true, accepting: true, pgpass: defaultPgpassPath(postgresql.data_dir as string), warnings: [] });
      // One line per local host name for the superuser; no wildcard host.
      const port = (postgresql.listen as string).split(':')[1];
      expect(report.lines).toEqual(
        expect.arrayContaining([`127.0.0.1:${port}:*:postgres:${SUPERUSER_PASSWORD}`, `localhost:${port}:*:postgres:${SUPERUSER_PASSWORD}`]),
      );
      expect((report.lines as string[]).filter((l) => l.startsWith('*'))).toEqual([]);
    }
    // What was planted is as it was: not followed, not replaced.
    const link = await lstat(join(tmpdir(), `pgpass.pgha.${scope}.pg0`));
    expect(link.isSymbolicLink() && link.uid === NOBODY.uid).toBe(true);
    expect(await readFile(victim, 'utf8')).toBe('');
    expect(await readFile(join(tmpdir(), `pgpass.pgha.${scope}.pg1`), 'utf8')).toBe('attacker\n');
  });

  it('says clearly that a configured postgresql.pgpass in a shared directory was taken by another user', async () => {
    const taken = join(tmpdir(), `pgha-m8-taken-${randomBytes(4).toString('hex')}`);
    await plant(taken, { content: '' });
    const report = await startAsPostgres({ scope: 'm8', name: 'pg2', postgresql: await section('pg2', { pgpass: taken }) });
    expect(report.ok).toBe(false);
    expect(report.message).toContain(`cannot write postgresql.pgpass (${taken}): a file owned by uid ${NOBODY.uid} is in the way`);
    expect((report.warnings as string[]).some((w) => w.startsWith(`SECURITY: postgresql.pgpass (${taken}) is not private: ${tmpdir()} is a shared directory`))).toBe(true);
    expect(await readFile(taken, 'utf8')).toBe('');
  });
});

describe('where the .pgpass file goes', () => {
  it('uses a 0700 directory beside the data directory, created for the PostgreSQL user', async () => {
    warnings.length = 0;
    const dataDir = join(dir.path, 'safe', 'data');
    const location = await locatePgpass({ configured: undefined, dataDir, owner: runAs, scope: 's', name: 'n', logger });
    expect(location).toEqual({ path: `${dataDir}.pgha/pgpass`, temporary: false });
    const info = await stat(`${dataDir}.pgha`);
    expect(info.mode & 0o777).toBe(0o700);
    if (runAs) expect(info.uid).toBe(runAs.uid);
    expect(warnings).toEqual([]);
  });

  it('falls back to a fresh private temp directory when the data directory sits in a shared directory or its place is taken', async () => {
    warnings.length = 0;
    const shared = join(dir.path, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const inShared = await locatePgpass({ configured: undefined, dataDir: join(shared, 'data'), owner: runAs, scope: 's', name: 'n', logger });
    expect(inShared.temporary).toBe(true);
    expect(inShared.path).toMatch(new RegExp(`^${tmpdir()}/pgha-pgpass-s\\.n-\\w{6}/pgpass$`));
    expect(warnings[0]).toContain(`${shared} is a shared directory`);
    const info = await stat(join(inShared.path, '..'));
    expect(info.mode & 0o777).toBe(0o700);
    if (runAs) expect(info.uid).toBe(runAs.uid);
    await removePgpassLocation(inShared);
    await expect(stat(join(inShared.path, '..'))).rejects.toThrow(/ENOENT/);

    // Planted by someone else (only root could here, but the check does not assume so).
    const takenData = join(dir.path, 'taken', 'data');
    await mkdir(`${takenData}.pgha`, { recursive: true });
    await chown(`${takenData}.pgha`, NOBODY.uid, NOBODY.gid);
    const taken = await locatePgpass({ configured: undefined, dataDir: takenData, owner: runAs, scope: 's', name: 'n', logger });
    expect(taken.temporary).toBe(true);
    expect(warnings[1]).toContain(`${takenData}.pgha exists and is owned by uid ${NOBODY.uid}`);
    await removePgpassLocation(taken);

    const linkedData = join(dir.path, 'linked', 'data');
    await mkdir(join(dir.path, 'linked'));
    await symlink(shared, `${linkedData}.pgha`);
    const linked = await locatePgpass({ configured: undefined, dataDir: linkedData, owner: runAs, scope: 's', name: 'n', logger });
    expect(linked.temporary).toBe(true);
    expect(warnings[2]).toContain(`${linkedData}.pgha exists and is not a directory`);
    await removePgpassLocation(linked);
  });

  it('keeps a configured postgresql.pgpass but warns when other users can change its directory', async () => {
    warnings.length = 0;
    const open = join(dir.path, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const configured = join(open, 'pgpass');
    const location = await locatePgpass({ configured, dataDir: join(dir.path, 'x'), owner: runAs, scope: 's', name: 'n', logger });
    expect(location).toEqual({ path: configured, temporary: false });
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^SECURITY: postgresql\\.pgpass \\(${configured}\\) is not private: ${open} is writable by every local user`)),
    ]);
    expect((await directoryRisk(dir.path, runAs)).risk).toBeNull();
  });

  it('replaces a symlink at a configured path instead of writing through it', async () => {
    const victim = join(dir.path, 'victim');
    await writeFile(victim, '');
    const configured = join(dir.path, 'configured-pgpass');
    await symlink(victim, configured);
    await writePgpassFile({ path: configured, temporary: false }, 'h:5432:*:u:p\n', runAs, true);
    expect((await lstat(configured)).isFile()).toBe(true);
    expect((await stat(configured)).mode & 0o777).toBe(0o600);
    expect(await readFile(configured, 'utf8')).toBe('h:5432:*:u:p\n');
    expect(await readFile(victim, 'utf8')).toBe('');
  });

  it('names the config key and the owner when the file cannot be replaced', async () => {
    const configured = join(dir.path, 'a-directory');
    await mkdir(configured);
    await chown(configured, NOBODY.uid, NOBODY.gid);
    const error = await writePgpassFile({ path: configured, temporary: false }, '', runAs, true).catch((e: unknown) => e);
    expect(isPostgresError(error, 'PG_CONFIG')).toBe(true);
    expect((error as Error).message).toContain(`cannot write postgresql.pgpass (${configured}): a directory owned by uid ${NOBODY.uid} is in the way`);
  });
});
