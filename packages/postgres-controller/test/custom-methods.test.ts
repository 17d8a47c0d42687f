/**
 * The less common paths on real PostgreSQL: a custom bootstrap method, a custom replica creation
 * method falling back to pg_basebackup, a failing pre_promote, a stop that needs SIGKILL and crash
 * recovery in single-user mode.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapSectionSchema,
  createPostgresController,
  isPostgresError,
  postgresqlSectionSchema,
  type PostgresController,
  type RunAs,
} from '../src/index.js';
import { eventually, freePort, ownedTempDir, postgresBinDir, postgresUser, recordingLogger, writeScript } from './fixtures/postgres.js';

let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let bin: string;
const ports = { c0: 0, c1: 0 };
let primary: PostgresController;
let replica: PostgresController;
const logger = recordingLogger();

function section(name: 'c0' | 'c1', extra: Record<string, unknown> = {}) {
  return postgresqlSectionSchema.parse({
    listen: `127.0.0.1:${ports[name]}`,
    data_dir: join(dir.path, name),
    bin_dir: bin,
    pgpass: join(dir.path, `pgpass-${name}`),
    use_unix_socket: true,
    authentication: { superuser: { username: 'postgres', password: 'su-pw' }, replication: { username: 'replicator', password: 'repl-pw' } },
    parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off' },
    pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust'],
    basebackup: { checkpoint: 'fast' },
    ...extra,
  });
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgcustom', runAs);
  bin = await postgresBinDir();
  ports.c0 = await freePort();
  ports.c1 = await freePort();
  const bootstrapScript = await writeScript(
    join(dir.path, 'bootstrap.sh'),
    `echo "$@" > ${dir.path}/bootstrap.args
for a in "$@"; do case "$a" in --datadir=*) d="\${a#--datadir=}";; esac; done
exec ${bin}/initdb -D "$d" -U postgres --auth=trust`,
    runAs,
  );
  const brokenMethod = await writeScript(
    join(dir.path, 'broken-method.sh'),
    `echo "$@" > ${dir.path}/method.args
for a in "$@"; do case "$a" in --datadir=*) d="\${a#--datadir=}";; esac; done
echo junk > "$d/half-copied"
echo "archive not reachable" >&2
exit 1`,
    runAs,
  );
  primary = createPostgresController({
    name: 'c0',
    scope: 'custom',
    postgresql: section('c0'),
    bootstrap: bootstrapSectionSchema.parse({ method: 'from_script', from_script: { command: bootstrapScript, restore_point: 'latest' } }),
    runAs,
    logger,
  });
  replica = createPostgresController({
    name: 'c1',
    scope: 'custom',
    postgresql: section('c1', {
      create_replica_methods: ['from_archive', 'basebackup'],
      from_archive: { command: brokenMethod, bucket: 's3://backups' },
      pre_promote: await writeScript(join(dir.path, 'pre-promote.sh'), 'echo "fencing failed"\nexit 2', runAs),
    }),
    runAs,
    logger,
  });
});

afterAll(async () => {
  for (const c of [primary, replica]) await c?.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
  for (const c of [primary, replica]) await c?.close();
  await dir?.remove();
});

describe('custom methods and hard stops', () => {
  it('bootstraps with a custom method called with --scope, --datadir and its extra settings', async () => {
    const { systemIdentifier } = await primary.bootstrap();
    expect(systemIdentifier).toMatch(/^\d{10,}$/);
    expect((await readFile(join(dir.path, 'bootstrap.args'), 'utf8')).trim()).toBe(`--scope=custom --datadir=${join(dir.path, 'c0')} --restore_point=latest`);
    expect(await primary.state()).toMatchObject({ lifecycle: 'running', role: 'primary', accepting: true });
  });

  it('falls back to the next replica creation method after cleaning the failed one', async () => {
    const result = await replica.createReplica({ source: { name: 'c0', host: '127.0.0.1', port: ports.c0 } });
    expect(result).toEqual({ method: 'basebackup' });
    const args = (await readFile(join(dir.path, 'method.args'), 'utf8')).trim();
    expect(args).toContain(`--scope=custom --role=replica --datadir=${join(dir.path, 'c1')} --connstring=user=replicator`);
    expect(args).toContain(`host=127.0.0.1 port=${ports.c0}`);
    expect(args).toContain('--bucket=s3://backups');
    expect(args).not.toContain('repl-pw');
    const files = await readdir(join(dir.path, 'c1'));
    expect(files).toContain('PG_VERSION');
    expect(files).not.toContain('half-copied');
    expect(logger.entries.some((e) => e.msg === 'replica creation method failed')).toBe(true);
  });

  it('does not promote when pre_promote fails', async () => {
    await replica.start({ role: 'replica', follow: { name: 'c0', host: '127.0.0.1', port: ports.c0 } });
    let error: unknown;
    await replica.promote().catch((e: unknown) => (error = e));
    expect(isPostgresError(error, 'PG_PRE_PROMOTE_FAILED')).toBe(true);
    expect((error as Error).message).toContain('exited with code 2');
    expect((error as Error).message).toContain('fencing failed');
    expect((await replica.state()).role).toBe('replica');
  });

  it('kills a postmaster that does not stop in time, then recovers the crashed data directory', async () => {
    const pid = (await primary.state()).postmasterPid!;
    process.kill(pid, 'SIGSTOP'); // a hung postmaster ignores the fast shutdown request
    await primary.stop({ mode: 'fast', timeoutMs: 1000 });
    expect(primary.lifecycle).toBe('stopped');
    expect((await primary.state()).running).toBe(false);
    expect(logger.entries.some((e) => e.level === 'warn' && /did not stop in time/.test(e.msg ?? ''))).toBe(true);

    expect((await primary.inspectDataDirectory()).control?.clusterState).toBe('in production');
    await primary.recoverCrash();
    expect((await primary.inspectDataDirectory()).control?.clusterState).toBe('shut down');
    await primary.start({ role: 'primary' });
    expect((await primary.state()).accepting).toBe(true);
  });

  it('refuses to rewind with use_pg_rewind off; a diverged server is cloned again after removing its data', async () => {
    const c1 = { name: 'c1', host: '127.0.0.1', port: ports.c1 };
    await replica.updateConfiguration({ postgresql: section('c1') }); // no failing pre_promote any more
    await replica.promote();
    await replica.checkpoint();
    await replica.createPhysicalSlot('c0');
    await primary.stop(); // its shutdown checkpoint is WAL the new primary never saw

    let error: unknown;
    await primary.rewind(c1).catch((e: unknown) => (error = e));
    expect(isPostgresError(error, 'PG_REWIND_IMPOSSIBLE')).toBe(true);
    expect((error as Error).message).toContain('postgresql.use_pg_rewind is off');
    expect((await primary.inspectDataDirectory()).kind).toBe('initialized');

    // What the engine has done when remove_data_directory_on_diverged_timelines allows it.
    await primary.removeDataDirectory();
    expect(await primary.createReplica({ source: c1 })).toEqual({ method: 'basebackup' });
    await primary.start({ role: 'replica', follow: c1 });
    await eventually('c0 streaming from c1', async () => (await primary.state()).replicationState === 'streaming');
    expect((await primary.state()).timeline).toBe(2);
  });
});
