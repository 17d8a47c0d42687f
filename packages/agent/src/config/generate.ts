/**
 * `pgha --generate-config [--dsn DSN] [file]` and `--generate-sample-config [file]`, as Patroni
 * 3.2+ offers: a complete YAML for this host that `--validate-config` accepts and an agent starts
 * with. Without a DSN, sensible defaults for this machine (its host name and address, the newest
 * installed PostgreSQL, fresh random passwords); with one, what the running PostgreSQL says
 * (data directory, port, non-default parameters, pg_hba and pg_ident, the superuser given).
 * PATRONI_* / PGHA_* variables override either, as at start.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { applyEnvironment } from './environment.js';

type Tree = Record<string, unknown>;

export interface HostFacts {
  hostname: string;
  /** The address other members reach this host on. */
  ip: string;
  /** Major version and bin directory of the newest PostgreSQL installed, when one is. */
  postgres: { major: number; binDir: string } | null;
}

/** Rows of `SELECT name, current_setting(name) ...` and the session's facts, from the running server. */
export interface RunningServer {
  serverVersionNum: number;
  isSuperuser: boolean;
  settings: Array<{ name: string; setting: string }>;
  user: string;
  password: string | undefined;
  dsnPort: string | undefined;
}

export class GenerateConfigError extends Error {
  readonly code = 'GENERATE_CONFIG_FAILED';
}

const password = () => randomBytes(18).toString('base64url');

/** Patroni's default dynamic configuration (bootstrap.dcs), with the wal_keep name of the version. */
function bootstrapDcs(major: number): Tree {
  return {
    ttl: 30,
    loop_wait: 10,
    retry_timeout: 10,
    maximum_lag_on_failover: 1048576,
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: {
        hot_standby: 'on',
        max_connections: 100,
        max_locks_per_transaction: 64,
        max_prepared_transactions: 0,
        max_replication_slots: 10,
        max_wal_senders: 10,
        max_worker_processes: 8,
        track_commit_timestamp: 'off',
        wal_level: 'replica',
        wal_log_hints: 'on',
        ...(major >= 13 ? { wal_keep_size: '128MB' } : { wal_keep_segments: 8 }),
      },
    },
  };
}

/** The configuration for this host with defaults only. */
export function sampleConfig(host: HostFacts): Tree {
  const major = host.postgres?.major ?? 15;
  const auth = major >= 10 ? 'scram-sha-256' : 'md5';
  return {
    scope: 'postgres-cluster',
    namespace: '/service/',
    name: host.hostname,
    restapi: { listen: `${host.ip}:8008`, connect_address: `${host.ip}:8008` },
    etcd3: { hosts: [`${host.ip}:2379`] },
    log: { type: 'plain', level: 'INFO', format: '%(asctime)s %(levelname)s: %(message)s' },
    bootstrap: { dcs: bootstrapDcs(major) },
    postgresql: {
      listen: `${host.ip}:5432`,
      connect_address: `${host.ip}:5432`,
      data_dir: `/var/lib/postgresql/${major}/pgha`,
      bin_dir: host.postgres?.binDir ?? '',
      authentication: {
        superuser: { username: 'postgres', password: password() },
        replication: { username: 'replicator', password: password() },
        rewind: { username: 'rewind_user', password: password() },
      },
      parameters: { password_encryption: auth },
      pg_hba: [`local all all peer`, `host all all all ${auth}`, `host replication replicator all ${auth}`],
    },
    watchdog: { mode: 'automatic', device: '/dev/watchdog', safety_margin: 5 },
    tags: { failover_priority: 1, noloadbalance: false, clonefrom: true, nosync: false, nostream: false },
  };
}

/** Settings that become commands or name files: kept in the local YAML (never pushed to the DCS). */
const LOCAL_ONLY = new Set(['archive_command', 'restore_command', 'archive_cleanup_command', 'recovery_end_command', 'ssl_passphrase_command', 'hba_file', 'ident_file', 'config_file']);
/** Set by pgha itself from listen / scope / the data directory. */
const OWN = new Set(['port', 'listen_addresses', 'cluster_name', 'data_directory']);

/** Patroni's query: what was set on purpose, and the parameters a cluster must agree on. */
export const RUNNING_SETTINGS_SQL = `SELECT name, pg_catalog.current_setting(name) AS setting FROM pg_catalog.pg_settings
 WHERE context <> 'internal' AND source IN ('configuration file', 'command line', 'environment variable')
   AND category <> 'Write-Ahead Log / Recovery Target' AND setting <> '(disabled)'
    OR name = ANY($1)`;
export const REQUIRED_SETTINGS = ['hba_file', 'ident_file', 'config_file', 'data_directory', 'port', 'listen_addresses', 'cluster_name',
  'max_connections', 'max_locks_per_transaction', 'max_worker_processes', 'max_prepared_transactions', 'wal_level',
  'track_commit_timestamp', 'max_wal_senders', 'max_replication_slots', 'wal_log_hints', 'wal_keep_size', 'wal_keep_segments'];

/** The configuration for this host from a running server; `readFile` reads its pg_hba / pg_ident / postmaster.pid. */
export function runningConfig(host: HostFacts, server: RunningServer, readFile: (path: string) => string, binDirOf: (pid: number) => string): Tree {
  if (!server.isSuperuser) throw new GenerateConfigError(`the user ${server.user} is not a superuser: --generate-config reads settings only a superuser sees`);
  const major = Math.floor(server.serverVersionNum / 10000);
  const config = sampleConfig({ ...host, postgres: host.postgres ? { ...host.postgres, major } : null });
  const pg = config['postgresql'] as Tree;
  const dcsParams = ((config['bootstrap'] as Tree)['dcs'] as { postgresql: { parameters: Tree } }).postgresql.parameters;
  const local: Tree = {};
  const get = (name: string) => server.settings.find((s) => s.name === name)?.setting;
  for (const { name, setting } of server.settings) {
    if (OWN.has(name)) continue;
    if (LOCAL_ONLY.has(name)) local[name] = setting;
    else dcsParams[name] = setting;
  }
  const dataDir = get('data_directory');
  if (!dataDir) throw new GenerateConfigError('the server did not report its data_directory');
  pg['data_dir'] = dataDir;
  if (get('cluster_name')) config['scope'] = get('cluster_name');
  const port = get('port') ?? '5432';
  const listen = (get('listen_addresses') ?? 'localhost').split(',')[0]!.trim().replace(/^\*$/, '0.0.0.0');
  pg['listen'] = `${listen}:${port}`;
  pg['connect_address'] = `${host.ip}:${server.dsnPort ?? port}`;
  pg['parameters'] = { ...(pg['parameters'] as Tree), ...local };
  (pg['authentication'] as Tree)['superuser'] = { username: server.user, password: server.password ?? password() };
  // The files are taken into the YAML only where PostgreSQL keeps them by default: elsewhere they
  // may not be the agent's to rewrite.
  if (get('hba_file') === join(dataDir, 'pg_hba.conf')) pg['pg_hba'] = linesOf(readFile(join(dataDir, 'pg_hba.conf')));
  if (get('ident_file') === join(dataDir, 'pg_ident.conf')) {
    const ident = linesOf(readFile(join(dataDir, 'pg_ident.conf')));
    if (ident.length > 0) pg['pg_ident'] = ident;
  }
  const pid = Number(readFile(join(dataDir, 'postmaster.pid')).split('\n')[0]);
  if (!(pid > 0)) throw new GenerateConfigError(`cannot read the postmaster's pid from ${join(dataDir, 'postmaster.pid')}`);
  pg['bin_dir'] = binDirOf(pid);
  return config;
}

function linesOf(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The newest /usr/lib/postgresql/<major>/bin with a postgres binary (Debian's layout). */
export function installedPostgres(root = '/usr/lib/postgresql'): HostFacts['postgres'] {
  let majors: number[];
  try {
    majors = readdirSync(root).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return null;
  }
  for (const major of majors.sort((a, b) => b - a)) {
    const binDir = join(root, String(major), 'bin');
    try {
      readFileSync(join(binDir, 'postgres'), { flag: 'r' }).subarray(0, 1);
      return { major, binDir };
    } catch {
      // Not this one: a package that left only its directory.
    }
  }
  return null;
}

/** The bin directory of a running postmaster: where its executable is. */
export function binDirOfPid(pid: number): string {
  return dirname(readlinkSync(`/proc/${pid}/exe`));
}

/** The YAML text, Patroni's section order, with the environment's overrides applied. */
export function renderGeneratedConfig(config: Tree, env: Record<string, string | undefined>): string {
  const withEnv = applyEnvironment(config, env).config;
  const order = ['scope', 'namespace', 'name', 'log', 'restapi', 'ctl', 'etcd', 'etcd3', 'zookeeper', 'bootstrap', 'postgresql', 'watchdog', 'tags'];
  const sorted: Tree = {};
  for (const key of [...order, ...Object.keys(withEnv)]) if (key in withEnv && !(key in sorted)) sorted[key] = withEnv[key];
  // One DCS section: PATRONI_ZOOKEEPER_HOSTS (or PATRONI_ETCD_HOSTS) replaces the etcd3 default
  // instead of adding a second store.
  const fromEnv = (section: string) => Object.keys(env).some((k) => new RegExp(`^(PATRONI|PGHA)_${section}_`).test(k));
  if ((fromEnv('ZOOKEEPER') || fromEnv('ETCD')) && !fromEnv('ETCD3')) delete sorted['etcd3'];
  return [
    '# Generated by pgha --generate-config. Review it before the first start: the passwords are new and',
    '# random, and bootstrap.dcs applies only when the cluster is created (later: pghactl edit-config).',
    // YAML 1.1 as PyYAML reads it: `on` and `off` strings are quoted, so Patroni reads them as strings too.
    stringify(sorted, { lineWidth: 0, version: '1.1' }),
  ].join('\n');
}
