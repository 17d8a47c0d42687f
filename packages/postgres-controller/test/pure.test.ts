/** The pure parts: parsing, rendering and naming, no processes or servers. */
import { describe, expect, it } from 'vitest';
import { splitCommand } from '../src/callbacks.js';
import { bootstrapMethodArguments, optionArguments, replicaMethodArguments } from '../src/command-arguments.js';
import { isGeneratedConf, managedSynchronousStandbyNames, readConfValue, renderPostgresqlConf } from '../src/config-files.js';
import { recoveryEntries } from '../src/recovery-settings.js';
import { describeSalvage, parseWaldump } from '../src/salvage.js';
import { bootstrapSectionSchema, parseSection, postgresqlSectionSchema } from '../src/config.js';
import { connectionPlan } from '../src/connection-security.js';
import { connectionUrl, formatConninfo, parseConninfo, parseHostPort, pgpassContent } from '../src/conninfo.js';
import { parseControlData, stoppedPosition } from '../src/control-data.js';
import { stoppedFacts } from '../src/state-reader.js';
import { isPostgresError } from '../src/errors.js';
import { formatLsn, parseLsn } from '../src/lsn.js';
import { commandLineArguments, effectiveParameters, megabytesOf } from '../src/parameters.js';
import { parsePostmasterPid } from '../src/postmaster-pid.js';
import { displaySetting, pendingRestart } from '../src/state-query.js';
import { formatSynchronousStandbyNames } from '../src/synchronous-standby.js';
import { historyFileName, parseTimelineHistory } from '../src/timeline-history.js';

describe('configuration sections', () => {
  it("parses a Patroni postgresql section, keeping per-method keys", () => {
    const parsed = postgresqlSectionSchema.parse({
      listen: '0.0.0.0:5432',
      connect_address: '10.0.0.4:5432',
      data_dir: '/var/lib/postgresql/15/main',
      bin_dir: '/usr/lib/postgresql/15/bin',
      pgpass: '/tmp/pgpass0',
      authentication: { superuser: { username: 'postgres', password: 12345 }, replication: { username: 'replicator', password: 'rep-pass', sslmode: 'require' } },
      parameters: { work_mem: '8MB', hot_standby_feedback: true, max_parallel_workers: 4 },
      create_replica_methods: ['wal_e', 'basebackup'],
      wal_e: { command: 'patroni_wale_restore', no_leader: 'true', envdir: '/etc/wal-e.d/env' },
      basebackup: [{ 'max-rate': '100M' }, 'verbose'],
      pg_ctl_timeout: '90',
      use_pg_rewind: 'on',
      callbacks: { on_role_change: '/usr/local/bin/cb.sh' },
    });
    expect(parsed.authentication?.superuser?.password).toBe('12345');
    expect(parsed.pg_ctl_timeout).toBe(90);
    expect(parsed.use_pg_rewind).toBe(true);
    expect((parsed as Record<string, unknown>).wal_e).toEqual({ command: 'patroni_wale_restore', no_leader: 'true', envdir: '/etc/wal-e.d/env' });
  });

  it('parses bootstrap with initdb as strings and maps, users and a custom method', () => {
    const parsed = bootstrapSectionSchema.parse({
      dcs: { ttl: 30 },
      method: 'clone_with_walg',
      clone_with_walg: { command: 'clone.sh', recovery_conf: { restore_command: 'wal-g fetch %f %p' } },
      initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
      users: { admin: { password: 'pw', options: ['createrole', 'createdb'] } },
      post_init: '/usr/local/bin/setup.sh',
    });
    expect(parsed.initdb).toEqual([{ encoding: 'UTF8' }, 'data-checksums']);
    expect(optionArguments(parsed.initdb)).toEqual(['--encoding=UTF8', '--data-checksums']);
  });

  it('reports every bad key with its path', () => {
    let error: unknown;
    try {
      parseSection(postgresqlSectionSchema, { listen: '127.0.0.1:5432', pg_ctl_timeout: 'soon', create_replica_methods: 'basebackup' }, 'postgresql');
    } catch (e) {
      error = e;
    }
    expect(isPostgresError(error, 'PG_CONFIG')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('postgresql.data_dir');
    expect(message).toContain('postgresql.pg_ctl_timeout');
    expect(message).toContain('postgresql.create_replica_methods');
  });
});

describe('parameters', () => {
  const base = { serverVersion: 150004, listenAddresses: '127.0.0.1', port: 5433, clusterName: 'batman' };

  it('takes DCS-only parameters from the DCS only, with defaults and lower bounds', () => {
    const p = effectiveParameters({
      ...base,
      dynamic: { max_connections: 10, wal_level: 'logical', max_wal_senders: 8, work_mem: '4MB', wal_keep_segments: 8 },
      local: { max_connections: 500, work_mem: '16MB', shared_buffers: '1GB', port: 1 },
    });
    expect(p.file.get('max_connections')).toBe('100'); // 10 < 25: default
    expect(p.file.get('wal_level')).toBe('logical');
    expect(p.file.get('max_wal_senders')).toBe('8');
    expect(p.file.get('work_mem')).toBe('16MB'); // local overrides dynamic
    expect(p.file.get('shared_buffers')).toBe('1GB');
    expect(p.file.get('port')).toBe('5433');
    expect(p.file.get('wal_keep_size')).toBe('128MB');
    expect(p.file.has('wal_keep_segments')).toBe(false); // PostgreSQL 13+
    expect(p.file.get('hot_standby')).toBe('on');
    expect(p.file.get('cluster_name')).toBe('batman');
    expect(p.warnings).toHaveLength(3);
    expect(p.warnings.join('\n')).toContain('postgresql.parameters.max_connections is ignored');
    expect([...p.file.keys()]).toEqual([...p.file.keys()].sort());
  });

  it("converts wal_keep_segments and wal_keep_size into each other as Patroni does (16 MB segments)", () => {
    const on15 = (dynamic: Record<string, string | number>) => effectiveParameters({ ...base, dynamic }).file;
    const on12 = (dynamic: Record<string, string | number>) => effectiveParameters({ ...base, serverVersion: 120010, dynamic }).file;
    // A large segment count keeps its meaning on 13+, instead of the 128MB default.
    expect(on15({ wal_keep_segments: 1000 }).get('wal_keep_size')).toBe('16000MB');
    expect(on15({ wal_keep_segments: 1000 }).has('wal_keep_segments')).toBe(false);
    // The server's own name wins over the converted one.
    expect(on15({ wal_keep_segments: 1000, wal_keep_size: '2GB' }).get('wal_keep_size')).toBe('2GB');
    expect(on15({}).get('wal_keep_size')).toBe('128MB');
    // Before 13, the size becomes segments, rounded to the nearest: (MB + 8) / 16.
    expect(on12({ wal_keep_size: '1GB' }).get('wal_keep_segments')).toBe('64');
    expect(on12({ wal_keep_size: '100MB' }).get('wal_keep_segments')).toBe('6');
    expect(on12({ wal_keep_size: 200 }).get('wal_keep_segments')).toBe('13');
    expect(on12({ wal_keep_size: '2048kB' }).get('wal_keep_segments')).toBe('0');
    expect(on12({ wal_keep_size: '1GB', wal_keep_segments: 5 }).get('wal_keep_segments')).toBe('5');
    expect(on12({ wal_keep_size: '1GB' }).has('wal_keep_size')).toBe(false);
    expect(megabytesOf('1TB')).toBe(1024 * 1024);
    expect(megabytesOf('lots')).toBeNull();
  });

  it('puts postmaster-context DCS-only parameters on the command line, not wal_keep_size', () => {
    const p = effectiveParameters({ ...base, minimums: { max_connections: 200 } });
    const args = commandLineArguments(p.commandLine);
    expect(args).toContain('--max_connections=200');
    expect(args).toContain('--wal_log_hints=on');
    expect(args).toContain('--listen_addresses=127.0.0.1');
    expect(args.some((a) => a.startsWith('--wal_keep_size'))).toBe(false);
  });
});

describe('configuration files', () => {
  it('renders postgresql.conf with the header, the include and the standby settings', () => {
    const conf = renderPostgresqlConf({
      include: 'postgresql.base.conf',
      parameters: new Map([['port', '5432'], ['search_path', `"$user", public`], ['log_line_prefix', "it's"]]),
      recovery: recoveryEntries({
        standby: { primaryConninfo: 'user=replicator host=10.0.0.1 port=5432', primarySlotName: 'pg1', recoveryConf: { restore_command: 'cp /a/%f %p' } },
        standbyMode: true,
        serverVersion: 150000,
      }).entries,
    });
    expect(isGeneratedConf(conf)).toBe(true);
    expect(conf.split('\n').slice(2, 4)).toEqual(["include 'postgresql.base.conf'", '']);
    expect(conf).toContain(`search_path = '"$user", public'`);
    expect(conf).toContain("log_line_prefix = 'it''s'");
    expect(conf).toContain("primary_conninfo = 'user=replicator host=10.0.0.1 port=5432'");
    expect(conf).toContain("primary_slot_name = 'pg1'");
    expect(conf).toContain("recovery_target_timeline = 'latest'");
    expect(conf).toContain("restore_command = 'cp /a/%f %p'");
  });

  it('marks an engine-managed synchronous_standby_names so a restarted agent can keep it', () => {
    const parameters = new Map([['synchronous_standby_names', 'ANY 1 ("pg-2",pg3)']]);
    const managed = renderPostgresqlConf({ include: 'postgresql.base.conf', parameters, synchronousStandbyNamesManaged: true });
    expect(managedSynchronousStandbyNames(managed)).toBe('ANY 1 ("pg-2",pg3)');
    // The same value from the DBA's own configuration is not the engine's to keep.
    const configured = renderPostgresqlConf({ include: 'postgresql.base.conf', parameters });
    expect(managedSynchronousStandbyNames(configured)).toBeNull();
    expect(managedSynchronousStandbyNames('')).toBeNull();
  });
});

describe('addresses and connection strings', () => {
  it('parses listen addresses', () => {
    expect(parseHostPort('0.0.0.0:5432', 'postgresql.listen')).toEqual({ hosts: ['0.0.0.0'], port: 5432 });
    expect(parseHostPort('127.0.0.1, 10.0.0.2:6000', 'postgresql.listen')).toEqual({ hosts: ['127.0.0.1', '10.0.0.2'], port: 6000 });
    expect(parseHostPort('[::1]:5433', 'postgresql.listen')).toEqual({ hosts: ['::1'], port: 5433 });
    expect(parseHostPort('db1', 'postgresql.listen')).toEqual({ hosts: ['db1'], port: 5432 });
    expect(() => parseHostPort('db1:http', 'postgresql.listen')).toThrow(/postgresql\.listen: port "http"/);
  });

  it('quotes conninfo values and escapes .pgpass fields', () => {
    expect(formatConninfo({ user: 'rep', passfile: '/tmp/my pass', host: 'h', port: 5432, sslkey: undefined })).toBe("user=rep passfile='/tmp/my pass' host=h port=5432");
    expect(formatConninfo({ application_name: "o'neil\\x" })).toBe("application_name='o\\'neil\\\\x'");
    expect(pgpassContent([{ hosts: ['h'], port: 5432, auth: { username: 'rep', password: 'a:b\\c' } }])).toBe('h:5432:*:rep:a\\:b\\\\c\n');
  });

  // Issue 16: a password is offered only to the hosts and port its connection targets.
  it('writes one .pgpass line per host and port, never a wildcard host', () => {
    const repl = { username: 'replicator', password: 'r' };
    const content = pgpassContent([
      { hosts: ['10.0.0.7'], port: 5433, auth: { username: 'rewinder', password: 'w' } },
      { hosts: ['10.0.0.7', 'db2.example'], port: 5433, auth: repl },
      { hosts: ['10.0.0.7'], port: 5433, auth: { username: 'replicator', password: 'second' } },
      { hosts: ['::1', '/var/run/postgresql', '*'], port: 5432, auth: { username: 'postgres', password: 's' } },
      { hosts: ['127.0.0.1'], port: 5432, auth: { username: 'nopw' } },
    ]);
    expect(content).toMatchInlineSnapshot(`
      "10.0.0.7:5433:*:rewinder:w
      10.0.0.7:5433:*:replicator:r
      db2.example:5433:*:replicator:r
      \\:\\:1:5432:*:postgres:s
      /var/run/postgresql:5432:*:postgres:s
      localhost:5432:*:postgres:s
      "
    `);
    expect(content).not.toMatch(/^\*/m);
  });

  // Issue 16: the agent's own connections try plaintext and TLS in libpq's order for each sslmode.
  it("plans the agent's own connections from a role's sslmode as libpq does", () => {
    const where = 'postgresql.authentication.replication';
    const attempts = (sslmode?: string, host = '10.0.0.1') => connectionPlan(sslmode === undefined ? {} : { sslmode }, host, where).attempts.join(' then ');
    expect(
      Object.fromEntries([undefined, 'disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'].map((m) => [m ?? '(unset)', attempts(m)])),
    ).toMatchInlineSnapshot(`
      {
        "(unset)": "tls then plaintext",
        "allow": "plaintext then tls",
        "disable": "plaintext",
        "prefer": "tls then plaintext",
        "require": "tls",
        "verify-ca": "tls",
        "verify-full": "tls",
      }
    `);
    // libpq ignores sslmode on a unix socket.
    expect(attempts('verify-full', '/var/run/postgresql')).toBe('plaintext');
    expect(connectionPlan({ sslmode: 'verify-full', sslrootcert: '/etc/ca.crt' }, 'h', where)).toMatchObject({ mode: 'verify-full', rootCert: '/etc/ca.crt', channelBinding: 'prefer' });
    expect(() => connectionPlan({ sslmode: 'verify' }, 'h', where)).toThrow('invalid configuration: postgresql.authentication.replication.sslmode: "verify" is not one of disable, allow, prefer, require, verify-ca, verify-full');
    expect(() => connectionPlan({ sslmode: 'require', sslrootcert: 'system' }, 'h', where)).toThrow(/sslrootcert is system, which needs sslmode verify-full/);
    expect(() => connectionPlan({ gssencmode: 'require' }, 'h', where)).toThrow(/cannot use GSSAPI encryption/);
    expect(connectionPlan({ gssencmode: 'require' }, '/tmp', where).attempts).toEqual(['plaintext']);
    expect(() => parseSection(postgresqlSectionSchema, { listen: ':5432', data_dir: '/d', authentication: { rewind: { sslmode: 'on' } } }, 'postgresql')).toThrow(
      /postgresql\.authentication\.rewind\.sslmode/,
    );
  });

  it('reads back primary_conninfo from a written postgresql.conf', () => {
    const conninfo = formatConninfo({ user: 'rep', passfile: "/tmp/it's here", host: '10.0.0.1', port: 5433, application_name: 'pg1' });
    const recovery = recoveryEntries({ standby: { primaryConninfo: conninfo }, standbyMode: true, serverVersion: 150000 }).entries;
    const conf = renderPostgresqlConf({ include: 'postgresql.base.conf', parameters: new Map(), recovery });
    const read = readConfValue(conf, 'primary_conninfo');
    expect(read).toBe(conninfo);
    expect(parseConninfo(read!)).toEqual({ user: 'rep', passfile: "/tmp/it's here", host: '10.0.0.1', port: '5433', application_name: 'pg1' });
    expect(readConfValue(conf, 'primary_slot_name')).toBeNull();
  });

  it('builds connection URLs', () => {
    expect(connectionUrl({ user: 'postgres', host: '10.0.0.1', port: 5432 })).toBe('postgres://postgres@10.0.0.1:5432/postgres');
    expect(connectionUrl({ user: 'postgres', host: '/run/pg', port: 5433 })).toBe('postgres://postgres@:5433/postgres?host=%2Frun%2Fpg');
  });
});

describe('names', () => {
  it('formats synchronous_standby_names, quoting when needed', () => {
    expect(formatSynchronousStandbyNames({ kind: 'list', names: ['pg1'] })).toBe('pg1');
    expect(formatSynchronousStandbyNames({ kind: 'priority', count: 2, names: ['pg1', 'Pg-2', 'first'] })).toBe('2 (pg1,"Pg-2","first")');
    expect(formatSynchronousStandbyNames({ kind: 'any', count: 1, names: ['a"b', '*'] })).toBe('ANY 1 ("a""b",*)');
    expect(formatSynchronousStandbyNames({ kind: 'list', names: ['pg1'] }, { alwaysQuote: true })).toBe('"pg1"');
    expect(formatSynchronousStandbyNames({ kind: 'any', count: 1, names: [] })).toBe('');
  });

  it('splits command lines like a shell', () => {
    expect(splitCommand(`/opt/my\\ tools/cb.sh --x 'a b' "c \\"d\\"" e`)).toEqual(['/opt/my tools/cb.sh', '--x', 'a b', 'c "d"', 'e']);
    expect(splitCommand(`cmd ''`)).toEqual(['cmd', '']);
  });

  it('builds the calling convention of custom methods', () => {
    const settings = { command: 'x', no_leader: true, keep_data: false, envdir: '/etc/env', retries: 3 };
    expect(replicaMethodArguments(settings, { scope: 's', dataDir: '/d', connstring: 'host=h' })).toEqual([
      '--scope=s',
      '--role=replica',
      '--datadir=/d',
      '--connstring=host=h',
      '--envdir=/etc/env',
      '--retries=3',
    ]);
    expect(replicaMethodArguments({ ...settings, no_params: true }, { scope: 's', dataDir: '/d', connstring: null })).toEqual([]);
    expect(bootstrapMethodArguments({ command: 'x', recovery_conf: { a: 1 }, target: 'now' }, { scope: 's', dataDir: '/d' })).toEqual([
      '--scope=s',
      '--datadir=/d',
      '--target=now',
    ]);
  });
});

describe('WAL positions and timelines', () => {
  it('parses and formats LSNs', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060);
    expect(parseLsn('16/B374D848')).toBe(0x16 * 2 ** 32 + 0xb374d848);
    expect(formatLsn(0x16 * 2 ** 32 + 0xb374d848)).toBe('16/B374D848');
    expect(parseLsn(null)).toBeNull();
    expect(parseLsn('garbage')).toBeNull();
  });

  it('parses history files', () => {
    expect(historyFileName(10)).toBe('0000000A.history');
    const history = parseTimelineHistory('1\t0/3000060\tno recovery target specified\n\n# comment\nbad line\n2\t0/5000000\tat restore point "x"\n');
    expect(history).toEqual([
      { timeline: 1, lsn: 0x3000060, reason: 'no recovery target specified' },
      { timeline: 2, lsn: 0x5000000, reason: 'at restore point "x"' },
    ]);
  });

  it('reads pg_controldata output', () => {
    const control = parseControlData(`pg_control version number:            1300
Database system identifier:           7268616322854375442
Database cluster state:               shut down
Latest checkpoint location:           0/5000028
Latest checkpoint's TimeLineID:       2
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
wal_log_hints setting:                on
max_connections setting:              100
Data page checksum version:           0
`);
    expect(control).toMatchObject({
      systemIdentifier: '7268616322854375442',
      clusterState: 'shut down',
      checkpointLsn: 0x5000028,
      checkpointTimeline: 2,
      dataChecksums: false,
      walLogHints: true,
    });
    expect(stoppedPosition(control)).toEqual({ timeline: 2, lsn: 0x5000028, lsnIsRecordStart: true });
    expect(stoppedPosition({ ...control, clusterState: 'shut down in recovery', minRecoveryLsn: 0x6000000, minRecoveryTimeline: 2 })).toEqual({
      timeline: 2,
      lsn: 0x6000000,
      lsnIsRecordStart: false,
    });
    expect(stoppedPosition({ ...control, clusterState: 'in production' })).toBeNull();
  });

  it('reports a stopped replica at its minimum recovery point, past its last restartpoint', () => {
    // pg_control of a replica left by a chaos soak (issue 20): it had replayed 32 KB of timeline 12
    // past the point where the leader's history left that timeline (0/49E4568) after its last
    // restartpoint (0/48F3C80). Judged from the checkpoint it looked not diverged and was started
    // as a replica again and again ("requested timeline 13 does not contain minimum recovery point").
    const control = parseControlData(`Database system identifier:           7268616322854375442
Database cluster state:               shut down in recovery
Latest checkpoint location:           0/48F3C80
Latest checkpoint's TimeLineID:       12
Minimum recovery ending location:     0/49EC438
Min recovery ending loc's timeline:   12
wal_log_hints setting:                on
Data page checksum version:           0
`);
    expect(stoppedFacts(control)).toMatchObject({ role: 'replica', timeline: 12, stoppedLsn: 0x49ec438, checkpointTimeline: 12, rewindPossible: true });
    // A cleanly stopped primary: its shutdown checkpoint; one that crashed: its latest checkpoint.
    const primary = { ...control, clusterState: 'shut down', minRecoveryLsn: 0, minRecoveryTimeline: 0 };
    expect(stoppedFacts(primary)).toMatchObject({ role: 'primary', timeline: 12, stoppedLsn: 0x48f3c80 });
    expect(stoppedFacts({ ...primary, clusterState: 'in production' })).toMatchObject({ role: 'primary', stoppedLsn: 0x48f3c80 });
  });

  it('parses postmaster.pid', () => {
    expect(parsePostmasterPid('4242\n/var/lib/pg\n1700000000\n5432\n/run/pg\n*\n  1234  5\nready   \n')).toEqual({
      pid: 4242,
      dataDir: '/var/lib/pg',
      startTime: 1700000000,
      port: 5432,
      socketDir: '/run/pg',
      listenAddress: '*',
      status: 'ready',
    });
    expect(parsePostmasterPid('')).toBeNull();
  });
});

describe('pending restart', () => {
  it('shows settings in the unit a DBA writes', () => {
    expect(displaySetting('2048', '8kB')).toBe('16MB');
    expect(displaySetting('131072', '8kB')).toBe('1GB');
    expect(displaySetting('100', null)).toBe('100');
    expect(displaySetting('60', 's')).toBe('60s');
  });

  it('combines PostgreSQL flags with command-line values that differ', () => {
    const settings = [
      { name: 'shared_buffers', setting: '2048', unit: '8kB', pending_restart: true },
      { name: 'max_connections', setting: '100', unit: null, pending_restart: false },
      { name: 'wal_level', setting: 'replica', unit: null, pending_restart: false },
      { name: 'recovery_target_timeline', setting: 'latest', unit: null, pending_restart: true },
    ];
    const wanted = new Map([['shared_buffers', '32MB']]);
    const commandLine = new Map([['max_connections', '200'], ['wal_level', 'hot_standby']]);
    expect(pendingRestart(settings, wanted, commandLine, 'primary')).toEqual({
      shared_buffers: { old_value: '16MB', new_value: '32MB' },
      max_connections: { old_value: '100', new_value: '200' },
    });
    expect(Object.keys(pendingRestart(settings, wanted, commandLine, 'replica'))).toContain('recovery_target_timeline');
  });
});

describe('salvage report', () => {
  // Real pg_waldump (PostgreSQL 15) lines: two committed inserts into one table, one aborted
  // insert into another, a checkpoint (no transaction).
  const output = [
    'rmgr: Heap        len (rec/tot):     54/   306, tx:        723, lsn: 0/00600548, prev 0/00600500, desc: INSERT off 3 flags 0x00, blkref #0: rel 1663/5/16384 blk 0 FPW',
    'rmgr: Btree       len (rec/tot):     64/    64, tx:        723, lsn: 0/00600680, prev 0/00600548, desc: INSERT_LEAF off 2, blkref #0: rel 1663/5/16390 blk 1',
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        723, lsn: 0/00600720, prev 0/00600680, desc: COMMIT 2026-11-25 03:07:40.516944 UTC',
    'rmgr: Heap        len (rec/tot):     59/    59, tx:        724, lsn: 0/00600748, prev 0/00600720, desc: INSERT off 4 flags 0x00, blkref #0: rel 1663/5/16399 blk 0',
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        724, lsn: 0/00600788, prev 0/00600748, desc: ABORT 2026-11-25 03:07:40.6 UTC',
    'rmgr: Heap        len (rec/tot):     59/    59, tx:        725, lsn: 0/006007B0, prev 0/00600788, desc: INSERT off 5 flags 0x00, blkref #0: rel 1663/5/16384 blk 0',
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        725, lsn: 0/006007F0, prev 0/006007B0, desc: COMMIT 2026-11-25 03:07:41.002 UTC',
    'rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/00600818, prev 0/006007F0, desc: CHECKPOINT_SHUTDOWN redo 0/600818; tli 1; prev tli 1',
    'pg_waldump: error: error in WAL record at 0/600818: invalid record length at 0/600890: wanted 24, got 0',
  ].join('\n');

  it('lists committed transactions and the relations they wrote, not aborted ones', () => {
    const r = parseWaldump(output);
    expect(r.transactions).toBe(2);
    expect([r.firstCommit, r.lastCommit]).toEqual(['2026-11-25 03:07:40.516944 UTC', '2026-11-25 03:07:41.002 UTC']);
    expect(r.relations).toEqual([{ rel: '1663/5/16384', records: 2 }, { rel: '1663/5/16390', records: 1 }]);
  });

  it('says what is lost in one line', () => {
    const line = describeSalvage({ timeline: 1, from: '0/600500', to: '0/600818', bytes: 792, ...parseWaldump(output), at: '2026-11-25T03:08:00.000Z' });
    expect(line).toBe(
      'pg_rewind discards WAL 0/600500..0/600818 of timeline 1 (792 bytes): 2 committed transaction(s) from 2026-11-25 03:07:40.516944 UTC to 2026-11-25 03:07:41.002 UTC are lost; relations written: 1663/5/16384 (2), 1663/5/16390 (1)',
    );
    expect(parseWaldump('').transactions).toBe(0);
  });
});
