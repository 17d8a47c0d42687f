/**
 * One primary and one replica on real PostgreSQL, through a whole life in sequence: bootstrap,
 * clone, stream, switchover (promote the replica, the old primary follows), split brain and
 * pg_rewind, a pending-restart parameter, crash detection, adoption after a controller restart,
 * slots and synchronous_standby_names. The tests share the servers and run in order.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresController,
  postgresqlSectionSchema,
  bootstrapSectionSchema,
  type PostgresController,
  type PostgresqlSection,
  type PostmasterExit,
  type ReplicationSource,
  type RunAs,
} from '../src/index.js';
import { eventually, freePort, ownedTempDir, postgresBinDir, postgresUser, recordingLogger, recordingRunner, writeScript } from './fixtures/postgres.js';
import { superuserQuery } from './fixtures/sql.js';

const SUPERUSER_PASSWORD = 'su-Secret-7731';
const REPLICATION_PASSWORD = 'repl-Secret-4419';
const REWIND_PASSWORD = 'rew-Secret-2290';
const APP_PASSWORD = 'app-Secret-5512';

const logger = recordingLogger();
const runner = recordingRunner();
let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let socketDir: string;
let callbackLog: string;
const ports: Record<'pg0' | 'pg1', number> = { pg0: 0, pg1: 0 };
const controllers: PostgresController[] = [];
let a: PostgresController; // pg0: the first primary
let b: PostgresController; // pg1: the first replica
let sectionA: PostgresqlSection;
let sectionB: PostgresqlSection;

function source(name: 'pg0' | 'pg1'): ReplicationSource {
  // The other member follows `name`, through its member slot (the engine names it, Patroni's way).
  return { name, host: '127.0.0.1', port: ports[name], slotName: name === 'pg0' ? 'pg1' : 'pg0' };
}

async function section(name: 'pg0' | 'pg1', bin: string): Promise<PostgresqlSection> {
  const callbacks = await writeScript(join(dir.path, 'callback.sh'), `echo "$@" >> ${callbackLog}`, runAs);
  return postgresqlSectionSchema.parse({
    listen: `127.0.0.1:${ports[name]}`,
    connect_address: `127.0.0.1:${ports[name]}`,
    data_dir: join(dir.path, name, 'data'),
    bin_dir: bin,
    pgpass: join(dir.path, `pgpass-${name}`),
    use_unix_socket: true,
    use_pg_rewind: true,
    pg_ctl_timeout: 60,
    authentication: {
      superuser: { username: 'postgres', password: SUPERUSER_PASSWORD },
      replication: { username: 'replicator', password: REPLICATION_PASSWORD },
      rewind: { username: 'rewinder', password: REWIND_PASSWORD },
    },
    parameters: { unix_socket_directories: socketDir, shared_buffers: '16MB', fsync: 'off', synchronous_commit: 'off', max_wal_size: '64MB', wal_retrieve_retry_interval: '1s' },
    // Local connections trust; everything over TCP needs a password, so the .pgpass file is exercised.
    pg_hba: ['local all all trust', 'host replication replicator 127.0.0.1/32 scram-sha-256', 'host all all 127.0.0.1/32 scram-sha-256'],
    basebackup: [{ checkpoint: 'fast' }],
    callbacks: { on_start: callbacks, on_stop: callbacks, on_restart: callbacks, on_reload: callbacks, on_role_change: callbacks },
    pre_promote: await writeScript(join(dir.path, 'pre-promote.sh'), 'exit 0', runAs),
    before_stop: await writeScript(join(dir.path, 'before-stop.sh'), `echo before_stop >> ${callbackLog}`, runAs),
  });
}

function controller(name: 'pg0' | 'pg1', postgresql: PostgresqlSection): PostgresController {
  const c = createPostgresController({
    name,
    scope: 'lifecycle',
    postgresql,
    bootstrap: bootstrapSectionSchema.parse({
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
      users: { app: { password: APP_PASSWORD, options: ['createdb'] } },
      post_bootstrap: join(dir.path, 'post-bootstrap.sh'),
    }),
    dynamic: { parameters: { max_connections: 30, max_wal_senders: 5, max_replication_slots: 5, wal_keep_size: '64MB' } },
    runner,
    logger,
    runAs,
    adoptedPollMs: 100,
  });
  controllers.push(c);
  return c;
}

/** A SQL client on the server's unix socket, as superuser. */
const sql = <T extends Record<string, unknown>>(name: 'pg0' | 'pg1', text: string, values: unknown[] = []): Promise<T[]> =>
  superuserQuery<T>(socketDir, ports[name], text, values);

async function callbacksSeen(): Promise<string[]> {
  return (await readFile(callbackLog, 'utf8').catch(() => '')).split('\n').filter((l) => l.length > 0);
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgctl', runAs);
  socketDir = dir.path;
  callbackLog = join(dir.path, 'callbacks.log');
  ports.pg0 = await freePort();
  ports.pg1 = await freePort();
  const bin = await postgresBinDir();
  await writeScript(join(dir.path, 'post-bootstrap.sh'), `echo "$1" > ${join(dir.path, 'post-bootstrap.ran')}\npsql "$1" -c 'CREATE TABLE t (v text)'`, runAs);
  sectionA = await section('pg0', bin);
  sectionB = await section('pg1', bin);
  a = controller('pg0', sectionA);
  b = controller('pg1', sectionB);
});

afterAll(async () => {
  for (const c of controllers) await c.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
  for (const c of controllers) await c.close();
  await dir?.remove();
});

describe('a primary and a replica through their life', () => {
  it('bootstraps a primary with initdb, users and post_bootstrap', async () => {
    const { systemIdentifier } = await a.bootstrap();
    expect(systemIdentifier).toMatch(/^\d{10,}$/);

    const state = await a.state();
    expect(state).toMatchObject({ lifecycle: 'running', role: 'primary', accepting: true, timeline: 1, systemIdentifier, dataDirectory: 'initialized' });
    expect(state.serverVersion).toBeGreaterThanOrEqual(120000);
    expect(state.currentLsn).toBeGreaterThan(0);
    expect(state.rewindPossible).toBe(true); // wal_log_hints is on by default

    const conf = await readFile(join(sectionA.data_dir, 'postgresql.conf'), 'utf8');
    expect(conf).toMatch(/^# Do not edit this file manually!/);
    expect(conf).toContain("include 'postgresql.base.conf'");
    expect(conf).toContain("max_connections = '30'");
    expect(conf).not.toContain('primary_conninfo');
    // initdb's own file became the base configuration the DBA edits.
    expect(await readFile(join(sectionA.data_dir, 'postgresql.base.conf'), 'utf8')).toContain('PostgreSQL configuration file');
    // DCS-only parameters are also on the postmaster's command line.
    const cmdline = (await readFile(`/proc/${state.postmasterPid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline).toContain('--max_connections=30');
    expect(cmdline).toContain('--wal_level=replica');

    const pgpass = await stat(sectionA.pgpass!);
    expect(pgpass.mode & 0o777).toBe(0o600);
    if (runAs) expect(pgpass.uid).toBe(runAs.uid);

    const roles = await sql<{ rolname: string; rolreplication: boolean; rolcreatedb: boolean }>(
      'pg0',
      "SELECT rolname, rolreplication, rolcreatedb FROM pg_roles WHERE rolname IN ('replicator', 'rewinder', 'app') ORDER BY rolname",
    );
    expect(roles).toEqual([
      { rolname: 'app', rolreplication: false, rolcreatedb: true },
      { rolname: 'replicator', rolreplication: true, rolcreatedb: false },
      { rolname: 'rewinder', rolreplication: false, rolcreatedb: false },
    ]);
    expect((await readFile(join(dir.path, 'post-bootstrap.ran'), 'utf8')).trim()).toBe(
      `postgres://postgres@:${ports.pg0}/postgres?host=${encodeURIComponent(socketDir)}`,
    );
    expect(await sql('pg0', "SELECT to_regclass('t') IS NOT NULL AS ok")).toEqual([{ ok: true }]);
  });

  it('clones a replica with pg_basebackup and sees it stream', async () => {
    expect(await a.createPhysicalSlot('pg1')).toBe(true);
    expect(await a.createPhysicalSlot('pg1')).toBe(false);

    expect(await b.createReplica({ source: source('pg0') })).toEqual({ method: 'basebackup' });
    await b.start({ role: 'replica', follow: source('pg0') });

    const conf = await readFile(join(sectionB.data_dir, 'postgresql.conf'), 'utf8');
    expect(conf).toMatch(/primary_conninfo = '.*passfile=.*host=127\.0\.0\.1/);
    expect(conf).toContain("primary_slot_name = 'pg1'");
    expect(conf).toContain("recovery_target_timeline = 'latest'");
    expect(conf).not.toContain(REPLICATION_PASSWORD);
    await stat(join(sectionB.data_dir, 'standby.signal'));

    await eventually('pg1 streaming from pg0', async () => {
      const [sa, sb] = await Promise.all([a.state(), b.state()]);
      return (
        sa.replication.some((r) => r.applicationName === 'pg1' && r.state === 'streaming') &&
        sb.replicationState === 'streaming' &&
        sb.upstream?.slotName === 'pg1'
      );
    });
    const sb = await b.state();
    expect(sb).toMatchObject({ role: 'replica', timeline: 1, following: source('pg0') });

    await sql('pg0', "INSERT INTO t VALUES ('before switchover')");
    await eventually('the row replayed on pg1', async () => (await sql('pg1', 'SELECT v FROM t')).length === 1);
    expect((await b.state()).replayedLsn).toBeGreaterThan(0);
  });

  it('switches over: the replica is promoted and the old primary follows it without a rewind', async () => {
    await a.stop({ checkpoint: true });
    expect(a.lifecycle).toBe('stopped');
    expect(await callbacksSeen()).toContain('before_stop'); // synchronous: already done

    await b.promote();
    const promoted = await b.state();
    expect(promoted).toMatchObject({ role: 'primary', timeline: 2 });
    // The checkpoint's timeline is reported (the engine's checkpoint_after_promote reads it);
    // whether the checkpoint PostgreSQL requests at promotion has ended yet is a race, so only
    // the state after an explicit CHECKPOINT is asserted.
    expect([1, 2]).toContain(promoted.checkpointTimeline);
    await b.checkpoint();
    expect((await b.state()).checkpointTimeline).toBe(2);

    const history = await b.readTimelineHistory();
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ timeline: 1 });
    expect(history[0]!.lsn).toBeGreaterThan(0);
    expect(Date.parse(history[0]!.timestamp)).not.toBeNaN();

    expect(await b.createPhysicalSlot('pg0')).toBe(true);
    // The second half of the engine's demotion: pg0 was the primary and starts as a replica.
    await a.start({ role: 'replica', follow: source('pg1') });
    await eventually('pg0 streaming from pg1', async () => (await a.state()).replicationState === 'streaming');
    expect((await a.state()).timeline).toBe(2);
    await sql('pg1', "INSERT INTO t VALUES ('after switchover')");
    await eventually('the row replayed on pg0', async () => (await sql('pg0', 'SELECT v FROM t')).length === 2);

    await eventually('callbacks ran', async () => (await callbacksSeen()).includes('on_role_change primary lifecycle'));
    expect(await callbacksSeen()).toContain('on_role_change replica lifecycle');
  });

  it('rewinds the old primary after a split brain and sees it stream again', async () => {
    // Split brain: pg0 is promoted as well and takes writes pg1 never sees.
    await a.promote();
    expect((await a.state()).timeline).toBe(3);
    await sql('pg0', "INSERT INTO t VALUES ('only on pg0')");
    await sql('pg1', "INSERT INTO t VALUES ('only on pg1')");

    // Demoting it to follow pg1 cannot work by streaming alone: its timeline is not in pg1's
    // history. The engine then has it stopped and rewound.
    await a.stop();
    await a.start({ role: 'replica', follow: source('pg1') });
    expect((await a.state()).role).toBe('replica');

    await a.stop();
    await a.rewind(source('pg1'));
    await a.start({ role: 'replica', follow: source('pg1') });
    await eventually('pg0 streaming from pg1 after the rewind', async () => (await a.state()).replicationState === 'streaming');
    await eventually('pg0 has pg1 data and lost its own', async () => {
      const rows = (await sql<{ v: string }>('pg0', 'SELECT v FROM t ORDER BY v')).map((r) => r.v);
      return rows.includes('only on pg1') && !rows.includes('only on pg0');
    });
    // The local configuration survived pg_rewind copying pg1's files.
    expect(await readFile(join(sectionA.data_dir, 'postgresql.conf'), 'utf8')).toContain(`port = '${ports.pg0}'`);
  });

  it('reloads what it can and restarts for a pending parameter', async () => {
    const change = await b.updateConfiguration({
      postgresql: { ...sectionB, parameters: { ...sectionB.parameters, shared_buffers: '24MB', work_mem: '8MB' } },
      dynamic: { parameters: { max_connections: 40, max_wal_senders: 5, max_replication_slots: 5, wal_keep_size: '64MB' } },
    });
    expect(change.reloaded).toBe(true);
    expect(change.changed.map((c) => c.name)).toEqual(['max_connections', 'shared_buffers', 'work_mem']);
    expect(change.restartRequired.sort()).toEqual(['max_connections', 'shared_buffers']);
    expect(change.pendingRestart).toBe(true);
    expect(change.pendingRestartReason).toEqual({
      shared_buffers: { old_value: '16MB', new_value: '24MB' },
      max_connections: { old_value: '30', new_value: '40' },
    });
    expect(await sql('pg1', 'SHOW work_mem')).toEqual([{ work_mem: '8MB' }]);
    expect((await b.state()).pendingRestart).toBe(true);

    const startedBefore = (await b.state()).postmasterStartTime;
    await b.restart();
    const after = await b.state();
    expect(after).toMatchObject({ lifecycle: 'running', role: 'primary', pendingRestart: false, pendingRestartReason: {} });
    expect(after.postmasterStartTime).not.toBe(startedBefore);
    expect(await sql('pg1', 'SHOW shared_buffers')).toEqual([{ shared_buffers: '24MB' }]);
    await eventually('on_restart and on_reload callbacks', async () => {
      const seen = await callbacksSeen();
      return seen.includes('on_restart primary lifecycle') && seen.includes('on_reload primary lifecycle');
    });
  });

  it('sets synchronous_standby_names, and creates and drops physical slots', async () => {
    await eventually('pg0 streaming again after the restart', async () => (await b.state()).replication.some((r) => r.applicationName === 'pg0'));
    expect(await b.setSynchronousStandbyNames({ kind: 'any', count: 1, names: ['pg0', 'Pg-2'] })).toBe('ANY 1 (pg0,"Pg-2")');
    await eventually('pg0 is a quorum standby', async () => {
      const s = await b.state();
      return s.synchronousStandbyNames === 'ANY 1 (pg0,"Pg-2")' && s.replication.some((r) => r.applicationName === 'pg0' && r.syncState === 'quorum');
    });
    expect(await b.setSynchronousStandbyNames(null)).toBe('');
    expect((await b.state()).synchronousStandbyNames).toBe('');

    expect(await b.createPhysicalSlot('pg2')).toBe(true);
    expect(await b.createPhysicalSlot('pg2')).toBe(false); // already there: nothing done
    expect((await b.listSlots()).map((s) => s.name)).toEqual(['pg0', 'pg2']);
    expect(await b.dropSlot('pg2')).toBe(true);
    expect(await b.dropSlot('pg2')).toBe(false);
    expect((await b.listSlots()).map((s) => s.name)).toEqual(['pg0']);
  });

  it('detects a killed postmaster at once', async () => {
    const exits: PostmasterExit[] = [];
    const unsubscribe = a.onPostmasterExit((e) => exits.push(e));
    const pid = (await a.state()).postmasterPid!;
    process.kill(pid, 'SIGKILL');
    await eventually('the exit event', async () => exits.length === 1, 10_000);
    unsubscribe();
    expect(exits[0]).toMatchObject({ pid, expected: false, signal: 'SIGKILL' });
    expect(a.lifecycle).toBe('crashed');
    expect((await a.state()).running).toBe(false);

    // pg1 now runs with max_connections 40; a standby may not have fewer, and pg0's pg_control
    // says so, so it starts with 40 although its dynamic configuration still says 30.
    await a.start({ role: 'replica', follow: source('pg1') });
    await eventually('pg0 streaming after the crash', async () => (await a.state()).replicationState === 'streaming');
    expect(await sql('pg0', 'SHOW max_connections')).toEqual([{ max_connections: '40' }]);
  });

  it('adopts a running postmaster after a controller restart and watches it', async () => {
    const pid = (await a.state()).postmasterPid!;
    await a.close();
    const again = controller('pg0', sectionA);
    a = again;
    expect(again.lifecycle).toBe('stopped');
    expect(await again.adopt()).toBe(pid);
    const state = await again.state();
    expect(state).toMatchObject({ running: true, accepting: true, role: 'replica', lifecycle: 'running', pendingRestart: false });
    // The upstream is read back from the postgresql.conf the previous controller wrote, with the
    // slot it streams through (a rewrite must not drop it).
    expect(state.following).toEqual({ host: '127.0.0.1', port: ports.pg1, slotName: 'pg0' });

    const exits: PostmasterExit[] = [];
    again.onPostmasterExit((e) => exits.push(e));
    process.kill(pid, 'SIGKILL');
    await eventually('the adopted postmaster exit', async () => exits.length === 1, 10_000);
    expect(exits[0]).toMatchObject({ pid, expected: false });
    expect(again.lifecycle).toBe('crashed');
    // Its backends notice the postmaster's death and leave; then it starts again.
    await eventually('a clean restart after the crash', async () => {
      await again.start({ role: 'replica', follow: source('pg1') });
      return true;
    });
    expect((await again.state()).accepting).toBe(true);
  });

  it('re-points a running replica with a reload, without a restart', async () => {
    const pid = (await a.state()).postmasterPid;
    await a.follow(null);
    await eventually('pg0 stops streaming', async () => (await a.state()).replicationState === 'in archive recovery');
    expect((await a.state()).following).toBeNull();
    await a.follow(source('pg1'));
    await eventually('pg0 streams again', async () => (await a.state()).replicationState === 'streaming');
    expect((await a.state()).postmasterPid).toBe(pid);
  });

  it('reports its WAL receiver, and restarts it on request: a new receiver streams again (issue 18)', async () => {
    const before = (await a.state()).walReceiver;
    expect(before).toMatchObject({ status: 'streaming', conninfoHost: '127.0.0.1', conninfoPort: ports.pg1 });
    expect(before?.lastMsgReceiptTime).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00$/);
    const pid = before?.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(await a.restartWalReceiver(pid)).toBe(true);
    await eventually('a new WAL receiver streams', async () => {
      const r = (await a.state()).walReceiver;
      return r?.status === 'streaming' && r.pid !== pid;
    });
    // The old pid is no longer the receiver: nothing is signalled.
    expect(await a.restartWalReceiver(pid)).toBe(false);
    expect((await b.state()).walReceiver).toBeNull();
  });

  it('following a remote primary makes it a standby leader for callbacks, with on_role_change both ways', async () => {
    const count = (lines: string[], line: string) => lines.filter((l) => l === line).length;
    const before = await callbacksSeen();
    await a.follow({ ...source('pg1'), remote: { slotName: null, recoveryConf: {} } });
    await eventually('on_role_change standby_leader', async () => (await callbacksSeen()).includes('on_role_change standby_leader lifecycle'));
    await a.follow(source('pg1'));
    await eventually('on_role_change replica again', async () =>
      count(await callbacksSeen(), 'on_role_change replica lifecycle') === count(before, 'on_role_change replica lifecycle') + 1,
    );
    await eventually('pg0 streams again', async () => (await a.state()).replicationState === 'streaming');
  });

  it('never puts a password in a command line or a log line', async () => {
    const secrets = [SUPERUSER_PASSWORD, REPLICATION_PASSWORD, REWIND_PASSWORD, APP_PASSWORD];
    expect(runner.commands.length).toBeGreaterThan(5);
    const commands = JSON.stringify(runner.commands.map((c) => [c.command, c.args]));
    const logs = JSON.stringify(logger.entries);
    for (const secret of secrets) {
      expect(commands).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    expect(commands).toContain('pg_basebackup');
    expect(commands).toContain('pg_rewind');
  });
});
