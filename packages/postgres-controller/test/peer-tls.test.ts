/**
 * Issue 16: every connection pgha makes to another member honours the role's `sslmode` and
 * certificates. pg0 runs with ssl=on and a pg_hba.conf that lets the replication, rewind and
 * superuser roles in over TCP only with TLS (`hostssl`), the rewind role only with a client
 * certificate. pg1 is cloned with pg_basebackup and streams with `sslmode: verify-full`; the
 * agent's own SQL checks (IDENTIFY_SYSTEM, the slot-file read, the checkpoint wait before a rewind)
 * go over TLS too; plaintext attempts, an unrelated CA and a wrong host name are refused; and the
 * old primary is rewound with pg_rewind over TLS with a client certificate and channel binding.
 * The tests share the servers and run in order.
 */
import { chmod, copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresController,
  bootstrapSectionSchema,
  postgresqlSectionSchema,
  type PostgresController,
  type PostgresqlSection,
  type ReplicationSource,
  type RunAs,
} from '../src/index.js';
import { withConnection, type ConnectionTarget } from '../src/sql.js';
import { makeCertificates, type TestCertificates } from './fixtures/certificates.js';
import { eventually, freePort, ownedTempDir, postgresBinDir, postgresUser, recordingLogger, recordingRunner } from './fixtures/postgres.js';
import { superuserQuery } from './fixtures/sql.js';

const SUPERUSER_PASSWORD = 'su-Tls-9034';
const REPLICATION_PASSWORD = 'repl-Tls-1187';
const REWIND_PASSWORD = 'rew-Tls-6620';
const APP_PASSWORD = 'app-Tls-4471';

const logger = recordingLogger();
const runner = recordingRunner();
let runAs: RunAs | undefined;
let dir: { path: string; remove(): Promise<void> };
let certs: TestCertificates;
let bin: string;
const ports = { pg0: 0, pg1: 0, pg2: 0 };
const controllers: PostgresController[] = [];
let a: PostgresController;
let b: PostgresController;
let sectionB: PostgresqlSection;

type Member = keyof typeof ports;

function source(name: Member, host = '127.0.0.1'): ReplicationSource {
  // pg1 follows pg0 and pg0 follows pg1, each through its member slot (the engine names it).
  return { name, host, port: ports[name], slotName: name === 'pg0' ? 'pg1' : 'pg0' };
}

/**
 * Every role verifies the server (verify-full against the test CA); the rewind role also presents
 * a client certificate whose key is encrypted (sslpassword) and requires channel binding.
 */
function authentication(overrides: { replication?: Record<string, string> } = {}) {
  const tls = { sslmode: 'verify-full', sslrootcert: certs.caCert };
  return {
    superuser: { username: 'postgres', password: SUPERUSER_PASSWORD, ...tls },
    replication: { username: 'replicator', password: REPLICATION_PASSWORD, ...tls, ...overrides.replication },
    rewind: {
      username: 'rewinder',
      password: REWIND_PASSWORD,
      ...tls,
      sslcert: certs.clientCert,
      sslkey: certs.clientKeyEncrypted,
      sslpassword: certs.clientKeyPassphrase,
      channel_binding: 'require',
    },
  };
}

function section(name: Member, options: { replication?: Record<string, string> } = {}): PostgresqlSection {
  return postgresqlSectionSchema.parse({
    // Two loopback addresses: the certificate names only the first.
    listen: `127.0.0.1,127.0.0.2:${ports[name]}`,
    connect_address: `127.0.0.1:${ports[name]}`,
    data_dir: join(dir.path, name, 'data'),
    bin_dir: bin,
    // No postgresql.pgpass: the private default beside the data directory.
    use_unix_socket: true,
    use_pg_rewind: true,
    pg_ctl_timeout: 60,
    authentication: authentication(options),
    parameters: {
      unix_socket_directories: dir.path,
      ssl: 'on',
      ssl_cert_file: certs.serverCert,
      ssl_key_file: certs.serverKey,
      ssl_ca_file: certs.caCert,
      shared_buffers: '16MB',
      fsync: 'off',
      max_wal_size: '64MB',
      wal_retrieve_retry_interval: '1s',
    },
    pg_hba: [
      'local all all trust',
      'hostssl replication replicator 127.0.0.0/8 scram-sha-256',
      'hostssl all rewinder 127.0.0.0/8 scram-sha-256 clientcert=verify-full',
      'hostssl all app 127.0.0.0/8 password',
      'hostssl all all 127.0.0.0/8 scram-sha-256',
    ],
    basebackup: [{ checkpoint: 'fast' }],
  });
}

function controller(name: Member, postgresql: PostgresqlSection): PostgresController {
  const c = createPostgresController({
    name,
    scope: 'tls',
    postgresql,
    bootstrap: bootstrapSectionSchema.parse({ initdb: [{ encoding: 'UTF8' }, { locale: 'C' }], users: { app: { password: APP_PASSWORD } } }),
    dynamic: { parameters: { max_connections: 30, max_wal_senders: 5, max_replication_slots: 5, wal_keep_size: '64MB' } },
    runner,
    logger,
    runAs,
  });
  controllers.push(c);
  return c;
}

const sql = <T extends Record<string, unknown>>(name: Member, text: string): Promise<T[]> => superuserQuery<T>(dir.path, ports[name], text);

/** One query on a fresh agent connection to pg0 as `user`, with `security`. */
function peerQuery(user: 'replicator' | 'postgres' | 'app', security: ConnectionTarget['security'], host = '127.0.0.1'): Promise<unknown> {
  const password = { replicator: REPLICATION_PASSWORD, postgres: SUPERUSER_PASSWORD, app: APP_PASSWORD }[user];
  const target: ConnectionTarget = { host, port: ports.pg0, user, password, replication: user === 'replicator', security, securityKey: `test.${user}` };
  return withConnection(target, 10_000, async (c) => (await c.query(user === 'replicator' ? 'IDENTIFY_SYSTEM' : 'SELECT 1 AS one')).rows);
}

beforeAll(async () => {
  runAs = await postgresUser();
  dir = await ownedTempDir('pgtls', runAs);
  certs = await makeCertificates(dir.path, { clientName: 'rewinder', owner: runAs });
  bin = await postgresBinDir();
  for (const name of Object.keys(ports) as Member[]) ports[name] = await freePort();
  a = controller('pg0', section('pg0'));
  sectionB = section('pg1');
  b = controller('pg1', sectionB);
});

afterAll(async () => {
  for (const c of controllers) await c.stop({ mode: 'immediate', timeoutMs: 10_000 }).catch(() => {});
  for (const c of controllers) await c.close();
  await dir?.remove();
});

describe('connections to a peer over TLS', () => {
  it('bootstraps a primary that takes the replication, rewind and superuser roles over TCP only with TLS', async () => {
    await a.bootstrap();
    expect(await sql('pg0', "SELECT current_setting('ssl') AS ssl")).toEqual([{ ssl: 'on' }]);
  });

  it('clones with pg_basebackup and streams, both with sslmode verify-full', async () => {
    expect(await a.createPhysicalSlot('pg1')).toBe(true);
    expect(await b.createReplica({ source: source('pg0') })).toEqual({ method: 'basebackup' });
    await b.start({ role: 'replica', follow: source('pg0') });
    await eventually('pg1 streaming from pg0', async () => (await b.state()).replicationState === 'streaming');

    // The walsender serving pg1 runs over TLS (pg_hba.conf would refuse it otherwise).
    const [walsender] = await sql<{ ssl: boolean; version: string }>(
      'pg0',
      "SELECT s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'pg1'",
    );
    expect(walsender?.ssl).toBe(true);

    const basebackup = runner.commands.find((c) => c.command.endsWith('pg_basebackup'));
    const dbname = basebackup?.args.find((arg) => arg.startsWith('--dbname='));
    expect(dbname).toContain('sslmode=verify-full');
    expect(dbname).toContain(`sslrootcert=${certs.caCert}`);
    const conf = await readFile(join(sectionB.data_dir, 'postgresql.conf'), 'utf8');
    expect(conf).toMatch(/primary_conninfo = '.*sslmode=verify-full/);
    expect(conf).not.toContain(REPLICATION_PASSWORD);

    // The password is in the private .pgpass beside the data directory, for pg0's host and port only.
    const pgpass = `${sectionB.data_dir}.pgha/pgpass`;
    expect(conf).toContain(`passfile=${pgpass}`);
    const info = await stat(pgpass);
    expect(info.mode & 0o777).toBe(0o600);
    expect((await stat(`${sectionB.data_dir}.pgha`)).mode & 0o777).toBe(0o700);
    if (runAs) expect(info.uid).toBe(runAs.uid);
    const lines = (await readFile(pgpass, 'utf8')).trim().split('\n');
    expect(lines).toContain(`127.0.0.1:${ports.pg0}:*:replicator:${REPLICATION_PASSWORD}`);
    expect(lines.filter((l) => l.startsWith('*'))).toEqual([]);
  });

  it("the agent's own checks reach the peer over TLS with verify-full", async () => {
    // pg_read_binary_file with the superuser (the logical slot copy); no slot asked for, none read.
    expect(await b.readLogicalSlotStates(source('pg0'), [])).toEqual([]);
    // The default (prefer) tries TLS first, so it gets in as well.
    await expect(peerQuery('postgres', {})).resolves.toEqual([{ one: 1 }]);
  });

  it('refuses plaintext, an unrelated CA and a host the certificate does not name', async () => {
    // pg_hba.conf has only hostssl lines for TCP: a plaintext attempt is refused, by the agent's SQL and by pg_basebackup.
    await expect(peerQuery('replicator', { sslmode: 'disable' })).rejects.toThrow(/no pg_hba\.conf entry .*no encryption/);
    const plain = controller('pg2', section('pg2', { replication: { sslmode: 'disable' } }));
    await expect(plain.createReplica({ source: source('pg0') })).rejects.toThrow(/no encryption/);

    await expect(peerQuery('replicator', { sslmode: 'verify-full', sslrootcert: certs.otherCaCert })).rejects.toThrow(/certificate/);
    await expect(peerQuery('replicator', { sslmode: 'verify-ca' })).rejects.toThrow(/root certificate .* does not exist/);
    // 127.0.0.2 reaches the same server, but the certificate names 127.0.0.1 only.
    await expect(peerQuery('replicator', { sslmode: 'verify-full', sslrootcert: certs.caCert }, '127.0.0.2')).rejects.toThrow(/127\.0\.0\.2/);
    await expect(peerQuery('replicator', { sslmode: 'verify-ca', sslrootcert: certs.caCert }, '127.0.0.2')).resolves.toHaveLength(1);
    // channel_binding require: a server asking for a cleartext password gets no password.
    await expect(peerQuery('app', { sslmode: 'require', channel_binding: 'require' })).rejects.toThrow(/channel_binding is require, but the server asked for a cleartext password/);
    await expect(peerQuery('app', { sslmode: 'require' })).resolves.toEqual([{ one: 1 }]);
    await expect(peerQuery('app', { gssencmode: 'require' })).rejects.toThrow(/gssencmode is require/);
    // A private key others can read is refused, as libpq refuses it.
    const loose = join(dir.path, 'loose.key');
    await copyFile(certs.clientKey, loose);
    await chmod(loose, 0o644);
    await expect(peerQuery('app', { sslmode: 'require', sslcert: certs.clientCert, sslkey: loose })).rejects.toThrow(/has group or world access/);
  });

  it('rewinds the old primary over TLS with an encrypted client key and channel binding', async () => {
    await b.promote();
    await b.checkpoint();
    expect(await b.createPhysicalSlot('pg0')).toBe(true);
    // pg0 stays a primary on the old timeline and takes a write pg1 never sees.
    await sql('pg0', 'CREATE TABLE diverged (v int); INSERT INTO diverged VALUES (1)');
    await a.stop();
    await a.rewind(source('pg1'));
    // The salvage report needs pg1's timeline history: IDENTIFY_SYSTEM and TIMELINE_HISTORY with
    // the replication role, over TLS (a failure would only be logged, and leave no report).
    expect(a.salvageReports()).toHaveLength(1);
    await a.start({ role: 'replica', follow: source('pg1') });
    await eventually('pg0 streaming from pg1 after the rewind', async () => (await a.state()).replicationState === 'streaming');
    expect(await sql('pg0', "SELECT to_regclass('diverged') IS NULL AS gone")).toEqual([{ gone: true }]);

    const rewind = runner.commands.find((c) => c.command.endsWith('pg_rewind'));
    const sourceServer = rewind?.args.find((arg) => arg.startsWith('--source-server='));
    expect(sourceServer).toContain('user=rewinder');
    expect(sourceServer).toContain('sslmode=verify-full');
    expect(sourceServer).toContain(`sslcert=${certs.clientCert}`);
    expect(sourceServer).toContain('channel_binding=require');
    // The key's passphrase reached pg_rewind through a service file, not its command line.
    expect(sourceServer).toContain('service=pgha');
    expect(rewind?.env.PGSERVICEFILE).toMatch(/pgha-service-\w+\/pg_service\.conf$/);
    await expect(stat(rewind!.env.PGSERVICEFILE!)).rejects.toThrow(/ENOENT/); // removed afterwards
  });

  it('keeps every password out of command lines, environments and logs', () => {
    const secrets = [SUPERUSER_PASSWORD, REPLICATION_PASSWORD, REWIND_PASSWORD, APP_PASSWORD, certs.clientKeyPassphrase];
    const commands = JSON.stringify(runner.commands.map((c) => [c.command, c.args, c.env]));
    const logs = JSON.stringify(logger.entries);
    for (const secret of secrets) {
      expect(commands).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    expect(commands).toContain('pg_rewind');
    // initdb's password file was in a fresh private directory, not at a guessable /tmp name.
    const initdb = runner.commands.find((c) => c.command.endsWith('initdb'));
    expect(initdb?.args.find((arg) => arg.startsWith('--pwfile='))).toMatch(/\/pgha-initdb-\w{6}\/pwfile$/);
  });
});
