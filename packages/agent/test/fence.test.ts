/**
 * Issue 15 (review H2a) at the loop level, on real PostgreSQL: the HA loop over the in-memory
 * DCS, with the agent's PostgreSQL adapter and the real controller. pg0 bootstraps and leads; a
 * restart is requested whose before_stop hook does not return, so the restart holds the
 * controller's lifecycle lock (as a slow promote or a demote's long CHECKPOINT would), and
 * `stop()` is refused with PG_BUSY meanwhile. Then the DCS hangs. At the safety deadline the
 * fence must stop PostgreSQL all the same.
 */
import { rm, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, type MemoryBackend } from '@pgha/dcs';
import { createHaLoop, nodeClock, type HaLoop } from '@pgha/ha-engine';
import { bootstrapSectionSchema, createPostgresController, postgresqlSectionSchema, type PostgresController, type RunAs } from '@pgha/postgres-controller';
import { adaptPostgresController } from '../src/adapters/postgres-port.js';
import { freePort, ownedTempDir, postgresBinDir, postgresUser, writeScript } from '../../postgres-controller/test/fixtures/postgres.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };

let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let backend: MemoryBackend;
let controller: PostgresController;
let loop: HaLoop;
const marker = (name: string): string => join(dir.path, name);
const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Polls `probe` until true or `timeoutMs` passed (then resolves anyway: the caller asserts). */
async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgha-fence', runAs);
  const port = await freePort();
  const postgresql = postgresqlSectionSchema.parse({
    listen: `127.0.0.1:${port}`,
    connect_address: `127.0.0.1:${port}`,
    data_dir: join(dir.path, 'data'),
    bin_dir: await postgresBinDir(),
    pgpass: join(dir.path, 'pgpass'),
    use_unix_socket: true,
    authentication: { superuser: { username: 'postgres', password: 'su-secret' }, replication: { username: 'replicator', password: 'x' } },
    parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off' },
    pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 scram-sha-256'],
    // Holds any stop while the `hold` marker exists: the controller's lock stays taken.
    before_stop: await writeScript(
      join(dir.path, 'before-stop.sh'),
      `if [ -e ${marker('hold')} ]; then touch ${marker('holding')}; while [ -e ${marker('hold')} ]; do sleep 0.2; done; fi`,
      runAs,
    ),
  });
  controller = createPostgresController({
    name: 'pg0',
    scope: 'fence',
    postgresql,
    bootstrap: bootstrapSectionSchema.parse({ initdb: [{ encoding: 'UTF8' }, { locale: 'C' }] }),
    runAs,
    hookTimeoutMs: 600_000,
  });
  backend = createMemoryBackend({ clock: nodeClock });
  const driver = backend.createDriver({ namespace: '/service', scope: 'fence', name: 'pg0', section: {}, clock: nodeClock, logger: silentLogger, ...TIMING });
  loop = createHaLoop({
    me: { name: 'pg0', connUrl: `postgres://127.0.0.1:${port}/postgres`, apiUrl: 'http://127.0.0.1:9/patroni', tags: {}, version: '3.0.2' },
    store: createClusterStore(driver, { name: 'pg0', logger: silentLogger }),
    postgres: adaptPostgresController(controller),
    peers: { probe: async () => [] },
    clock: nodeClock,
    settings: { bootstrapDcs: { ttl: TIMING.ttl, loop_wait: TIMING.loopWait, retry_timeout: TIMING.retryTimeout }, canBootstrap: true, postgresql },
  });
}, 60_000);

afterAll(async () => {
  await rm(marker('hold'), { force: true }).catch(() => {});
  backend?.faults.heal();
  await loop?.stop();
  await controller?.fence().catch(() => {});
  await controller?.close();
  await dir?.remove();
}, 120_000);

describe('the fence against a real controller held by another action', () => {
  it('a restart stuck in before_stop holds the controller; when renewals stop, the fence still stops PostgreSQL', async () => {
    loop.start();
    await waitFor('pg0 leading a running primary', async () => loop.status().holdsLock && (await controller.state()).role === 'primary', 120_000, 200);
    const pid = (await controller.state()).postmasterPid as number;

    await writeFile(marker('hold'), '');
    loop.request('restart', { requestedAt: nodeClock.now() });
    await waitFor('the restart holding the controller in before_stop', () => exists(marker('holding')), 60_000, 100);
    expect(alive(pid)).toBe(true);
    await expect(controller.stop({ mode: 'immediate' })).rejects.toMatchObject({ code: 'PG_BUSY' });

    // Renewals stop: the safety deadline comes within ttl, and the fence must not wait for the restart.
    backend.faults.unreachable({ mode: 'hang' });
    await waitFor('the postmaster gone', async () => !alive(pid), 60_000, 200).catch(() => undefined);
    expect(alive(pid)).toBe(false);
    expect(await exists(marker('hold'))).toBe(true);
    expect(loop.status().holdsLock).toBe(false);
  }, 300_000);
});
