/**
 * Issue 16 (review C1) on real PostgreSQL: the DCS `config` key goes through the in-memory DCS and
 * the agent's dynamic-config applier into the real controller, on a standby (recovery settings are
 * written only for a standby). Without `postgresql.allow_dcs_commands`, a DCS
 * `archive_cleanup_command` and `archive_command` never reach postgresql.conf or the running
 * server, the rest of the section applies, and the local value stays in force; with it, they do.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type Cluster, type ClusterConfig, type ClusterStore, type Versioned } from '@pgha/dcs';
import { bootstrapSectionSchema, createPostgresController, postgresqlSectionSchema, type PostgresController, type RunAs } from '@pgha/postgres-controller';
import { createDynamicConfigApplier } from '../src/dynamic-config.js';
import { eventually, freePort, ownedTempDir, postgresBinDir, postgresUser } from '../../postgres-controller/test/fixtures/postgres.js';

const run = promisify(execFile);
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const CLEANUP = 'pg_archivecleanup /tmp/pgha-no-such-archive %r';

let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let port: number;
let bin: string;
let controller: PostgresController;
let admin: ClusterStore;
let reader: ClusterStore;
let local: Record<string, unknown>;

async function show(name: string): Promise<string> {
  const { stdout } = await run(join(bin, 'psql'), ['-h', dir.path, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', `SHOW ${name}`]);
  return stdout.trim();
}

/** The `config` key as read (the engine hands the applier exactly this). */
function storedConfig(cluster: Cluster): Versioned<ClusterConfig> {
  if (!cluster.config) throw new Error('no config key');
  return cluster.config;
}

const conf = () => readFile(join(dir.path, 'data', 'postgresql.conf'), 'utf8');

function recordingLogger(): { warnings: string[]; logger: { info(): void; warn(obj: object | string, msg?: string): void } } {
  const warnings: string[] = [];
  return { warnings, logger: { info: () => {}, warn: (obj, msg) => void warnings.push(typeof obj === 'string' ? obj : (msg ?? '')) } };
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgha-dcs-commands', runAs);
  port = await freePort();
  bin = await postgresBinDir();
  local = {
    listen: `127.0.0.1:${port}`,
    connect_address: `127.0.0.1:${port}`,
    data_dir: join(dir.path, 'data'),
    bin_dir: bin,
    pgpass: join(dir.path, 'pgpass'),
    use_unix_socket: true,
    authentication: { superuser: { username: 'postgres', password: 'su-secret' }, replication: { username: 'replicator', password: 'x' } },
    // The local archive_command: it stays in force whatever the DCS says.
    parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off', archive_mode: 'on', archive_command: '/bin/true local %p' },
    pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 scram-sha-256'],
  };
  controller = createPostgresController({
    name: 'pg0',
    scope: 'dcs-commands',
    postgresql: postgresqlSectionSchema.parse(local),
    bootstrap: bootstrapSectionSchema.parse({ initdb: [{ encoding: 'UTF8' }, { locale: 'C' }] }),
    runAs,
  });
  await controller.bootstrap();
  // A standby with nobody to stream from: it writes standby.signal and the recovery settings.
  await controller.stop({ mode: 'fast' });
  await controller.start({ role: 'replica', follow: null });
  const backend = createMemoryBackend({ clock: systemClock });
  const store = (name: string) =>
    createClusterStore(backend.createDriver({ namespace: '/service', scope: 'dcs-commands', name, section: {}, clock: systemClock, logger: silentLogger, ...TIMING }), { name, logger: silentLogger });
  admin = store('admin');
  reader = store('pg0');
}, 120_000);

afterAll(async () => {
  await controller?.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
  await controller?.close();
  await dir?.remove();
}, 60_000);

describe('DCS commands and postgresql.allow_dcs_commands, on a running standby', () => {
  const dynamic = {
    ttl: 10,
    loop_wait: 1,
    retry_timeout: 3,
    postgresql: {
      parameters: { work_mem: '5MB', archive_command: 'touch /tmp/pgha-pwned-archive' },
      recovery_conf: { archive_cleanup_command: CLEANUP, recovery_min_apply_delay: '1s' },
    },
  };

  it('switch off: the DCS commands are ignored and logged by key path, the rest applies, the local value stays', async () => {
    expect((await controller.state()).role).toBe('replica');
    expect(await admin.setConfig(dynamic, null)).toBe(true);
    const { warnings, logger } = recordingLogger();
    const applier = createDynamicConfigApplier({ controller, logger, allowDcsCommands: false, localPostgresql: () => local });
    expect(await applier.apply(storedConfig(await reader.loadCluster()))).toBe(true);

    const text = await conf();
    expect(text).not.toContain('archive_cleanup_command');
    expect(text).not.toContain('pgha-pwned');
    expect(text).toContain("archive_command = '/bin/true local %p'");
    expect(text).toContain("work_mem = '5MB'");
    expect(text).toContain("recovery_min_apply_delay = '1s'");
    await eventually('the reload', async () => (await show('work_mem')) === '5MB');
    expect(await show('archive_cleanup_command')).toBe('');
    expect(await show('archive_command')).toBe('/bin/true local %p');
    expect(warnings).toEqual([
      'config.postgresql.parameters.archive_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; the local postgresql.parameters.archive_command applies',
      'config.postgresql.recovery_conf.archive_cleanup_command: ignored: PostgreSQL runs it as a shell command, and the local YAML does not set postgresql.allow_dcs_commands: true; postgresql.recovery_conf.archive_cleanup_command is not set in the local YAML',
    ]);

    // Said once per change: another write of the key (a pause) that drops the same keys is quiet.
    expect(await admin.setConfig({ ...dynamic, pause: true })).toBe(true);
    expect(await applier.apply(storedConfig(await reader.loadCluster()))).toBe(true);
    expect(warnings).toHaveLength(2);
    expect(await conf()).not.toContain('archive_cleanup_command');
  }, 60_000);

  it('switch on: the DCS archive_cleanup_command reaches postgresql.conf and the running server', async () => {
    const { warnings, logger } = recordingLogger();
    const applier = createDynamicConfigApplier({ controller, logger, allowDcsCommands: true, localPostgresql: () => local });
    expect(await applier.apply(storedConfig(await reader.loadCluster()))).toBe(true);
    expect(await conf()).toContain(`archive_cleanup_command = '${CLEANUP}'`);
    await eventually('the reload', async () => (await show('archive_cleanup_command')) === CLEANUP);
    // Local values still win over the DCS, as in Patroni.
    expect(await show('archive_command')).toBe('/bin/true local %p');
    expect(warnings).toEqual([]);
  }, 60_000);
});
