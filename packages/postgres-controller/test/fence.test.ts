/**
 * Fencing on real PostgreSQL (issue 15, review H2a): `fence()` stops the server at once while
 * another lifecycle action holds the controller — the promote or demote that `stop()` is refused
 * behind with PG_BUSY. The actions are held in progress by their hook scripts (pre_promote,
 * before_stop) sleeping, as a slow hook or a long CHECKPOINT would hold them.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapSectionSchema,
  createPostgresController,
  isPostgresError,
  PostgresErrorCode,
  postgresqlSectionSchema,
  type PostgresController,
  type RunAs,
} from '../src/index.js';
import { eventually, freePort, ownedTempDir, postgresBinDir, postgresUser, writeScript } from './fixtures/postgres.js';

let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let c: PostgresController;
const marker = (name: string): string => join(dir.path, name);
const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** True while a process with this pid exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgfence', runAs);
  const port = await freePort();
  c = createPostgresController({
    name: 'pg0',
    scope: 'fence',
    postgresql: postgresqlSectionSchema.parse({
      listen: `127.0.0.1:${port}`,
      data_dir: join(dir.path, 'data'),
      bin_dir: await postgresBinDir(),
      pgpass: join(dir.path, 'pgpass'),
      use_unix_socket: true,
      authentication: { replication: { username: 'replicator', password: 'x' } },
      parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off' },
      pre_promote: await writeScript(join(dir.path, 'pre-promote.sh'), `touch ${marker('promoting')}\nsleep 60`, runAs),
      before_stop: await writeScript(join(dir.path, 'before-stop.sh'), `if [ -e ${marker('slow-stop')} ]; then touch ${marker('stopping')}; sleep 8; fi`, runAs),
    }),
    bootstrap: bootstrapSectionSchema.parse({ initdb: [{ encoding: 'UTF8' }, { locale: 'C' }] }),
    runAs,
    hookTimeoutMs: 120_000,
  });
  await c.bootstrap();
});

afterAll(async () => {
  await c?.fence().catch(() => {});
  await c?.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
  await c?.close();
  await dir?.remove();
});

describe('fencing while another action holds the controller', () => {
  it('a fence during a promote stops PostgreSQL at once, where stop() is refused', async () => {
    await c.stop({ mode: 'fast' });
    // A standby with no upstream: in recovery, so there is something to promote.
    await c.start({ role: 'replica', follow: null });
    const pid = (await c.state()).postmasterPid as number;
    const abort = new AbortController();
    const promoting = c.promote({ signal: abort.signal });
    const promoteSettled = promoting.catch((e: unknown) => e);
    await eventually('pre_promote running', () => exists(marker('promoting')));

    const refused = await rejection(c.stop({ mode: 'immediate' }));
    expect(isPostgresError(refused, PostgresErrorCode.Busy)).toBe(true);
    expect(alive(pid)).toBe(true);

    await c.fence();
    expect(alive(pid)).toBe(false);
    expect((await c.state()).running).toBe(false);
    // The loop aborts the fenced action too; the promote then ends without a server.
    abort.abort();
    expect(await promoteSettled).toBeInstanceOf(Error);
    expect((await c.state()).running).toBe(false);
  });

  it('a fence during a demotion that has not stopped the server yet stops it at once', async () => {
    await c.start({ role: 'primary' });
    const pid = (await c.state()).postmasterPid as number;
    await writeScript(marker('slow-stop'), '', runAs);
    // The engine's demotion starts with this stop (then starts a replica).
    const demoting = c.stop({ mode: 'fast', checkpoint: true });
    const demoteSettled = demoting.then(
      () => 'done',
      (e: unknown) => e,
    );
    await eventually('before_stop running', () => exists(marker('stopping')));
    expect(isPostgresError(await rejection(c.stop({ mode: 'immediate' })), PostgresErrorCode.Busy)).toBe(true);
    expect(alive(pid)).toBe(true);

    await c.fence();
    expect(alive(pid)).toBe(false);
    expect((await c.state()).running).toBe(false);
    // The stop finds the server gone when its hook ends and finishes, stopped.
    expect(await demoteSettled).toBe('done');
    expect((await c.state()).running).toBe(false);
  }, 90_000);

  it('a fence with nothing running resolves at once', async () => {
    expect((await c.state()).running).toBe(false);
    await c.fence();
    expect((await c.state()).running).toBe(false);
  });
});
