/**
 * Bad input against real binaries: each failure names its cause and leaves no broken data
 * directory in place.
 */
import { chmod, mkdir, readdir, readFile, writeFile, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresController, isPostgresError, postgresqlSectionSchema, type PostgresController, type RunAs } from '../src/index.js';
import { freePort, ownedTempDir, postgresBinDir, postgresUser, writeScript } from './fixtures/postgres.js';

let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let bin: string;
const controllers: PostgresController[] = [];

async function controller(name: string, overrides: Record<string, unknown> = {}, bootstrap: Record<string, unknown> = {}): Promise<PostgresController> {
  const c = createPostgresController({
    name,
    scope: 'bad-input',
    postgresql: postgresqlSectionSchema.parse({
      listen: `127.0.0.1:${await freePort()}`,
      data_dir: join(dir.path, name, 'data'),
      bin_dir: bin,
      pgpass: join(dir.path, `pgpass-${name}`),
      use_unix_socket: true,
      authentication: { replication: { username: 'replicator', password: 'x' } },
      parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off' },
      ...overrides,
    }),
    bootstrap,
    runAs,
  });
  controllers.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgbad', runAs);
  bin = await postgresBinDir();
});

afterAll(async () => {
  for (const c of controllers) await c.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
  for (const c of controllers) await c.close();
  await dir?.remove();
});

describe('bad input', () => {
  it('a wrong bin_dir names the missing program and the config key, and writes nothing', async () => {
    const c = await controller('nobin', { bin_dir: '/nonexistent/pg/bin' });
    const e = await rejection(c.bootstrap());
    expect(isPostgresError(e, 'PG_BINARY_NOT_FOUND')).toBe(true);
    expect(e.message).toContain('/nonexistent/pg/bin/postgres');
    expect(e.message).toContain('postgresql.bin_dir');
    expect(await readdir(dir.path)).not.toContain('nobin');
  });

  it('an unreadable data directory is refused with its path, and left untouched', async () => {
    const c = await controller('locked');
    const dataDir = join(dir.path, 'locked', 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    if (runAs) {
      await chown(join(dir.path, 'locked'), runAs.uid, runAs.gid);
      await chown(dataDir, runAs.uid, runAs.gid);
    }
    await chmod(dataDir, 0o000);
    for (const attempt of [() => c.start({ role: 'primary' }), () => c.bootstrap(), () => c.createReplica({ source: null })]) {
      const e = await rejection(attempt());
      expect(e.message).toContain('data directory');
      expect(isPostgresError(e, 'PG_DATA_DIR')).toBe(true);
      expect(e.message).toContain(`postgresql.data_dir (${dataDir})`);
      expect(e.message).toContain('not readable');
    }
    expect((await c.state()).dataDirectory).toBe('unusable');
    await chmod(dataDir, 0o700);
    expect(await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).toBe('15\n');
  });

  it('a data directory owned by someone else is refused', async () => {
    // Only meaningful when PostgreSQL runs as another user than the agent, as the suite runs (as root).
    if (!runAs) throw new Error('this test must run as root: it checks that PostgreSQL, started as the postgres user, refuses a data directory root owns');
    const c = await controller('foreign-owner');
    const dataDir = join(dir.path, 'foreign-owner', 'data');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const e = await rejection(c.start({ role: 'primary' }));
    expect(isPostgresError(e, 'PG_DATA_DIR')).toBe(true);
    expect(e.message).toContain(`is owned by uid 0, but PostgreSQL runs as uid ${runAs.uid}`);
  });

  it('a failing post_bootstrap script fails the bootstrap and moves the data directory aside', async () => {
    const script = await writeScript(join(dir.path, 'failing-post-bootstrap.sh'), 'echo "cannot load the schema" >&2\nexit 3', runAs);
    const c = await controller('badpost', {}, { post_bootstrap: script });
    const e = await rejection(c.bootstrap());
    expect(isPostgresError(e, 'PG_BOOTSTRAP_FAILED')).toBe(true);
    expect(e.message).toContain('post_bootstrap');
    expect(e.message).toContain('exited with code 3');
    expect(e.message).toContain('cannot load the schema');
    const dataDir = join(dir.path, 'badpost', 'data');
    expect(e.message).toContain(`moved to ${dataDir}.failed`);
    expect(await readdir(join(dir.path, 'badpost'))).toEqual(['data.failed']);
    expect(await readdir(`${dataDir}.failed`)).toContain('PG_VERSION');
    expect(c.lifecycle).toBe('initdb failed');
    expect((await c.state()).running).toBe(false);
    expect((await c.state()).dataDirectory).toBe('missing');
  });

  it('a basebackup from a dead host names the host and leaves no data directory', async () => {
    const c = await controller('deadsource');
    const port = await freePort();
    const e = await rejection(c.createReplica({ source: { name: 'pg9', host: '127.0.0.1', port } }));
    expect(isPostgresError(e, 'PG_REPLICA_FAILED')).toBe(true);
    expect(e.message).toContain(`pg9 (127.0.0.1:${port})`);
    expect(e.message).toMatch(/basebackup: pg_basebackup exited with code 1: .*(Connection refused|could not connect)/s);
    expect(await readdir(join(dir.path, 'deadsource'))).toEqual([]);
    expect(c.lifecycle).toBe('stopped');
  });

  it('replica creation without a leader needs a method marked no_leader', async () => {
    const c = await controller('noleader');
    const e = await rejection(c.createReplica({ source: null }));
    expect(isPostgresError(e, 'PG_REPLICA_FAILED')).toBe(true);
    expect(e.message).toContain('basebackup: needs a running leader to copy from');
  });
});
