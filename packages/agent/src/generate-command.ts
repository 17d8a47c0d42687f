/**
 * The I/O around config/generate.ts: this host's name and address, the running server's settings
 * over a DSN, and writing the file (or stdout).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { hostname, userInfo } from 'node:os';
import { dirname } from 'node:path';
import pg from 'pg';
import { parseConninfo } from '@pgha/postgres-controller';
import {
  binDirOfPid,
  GenerateConfigError,
  installedPostgres,
  renderGeneratedConfig,
  REQUIRED_SETTINGS,
  RUNNING_SETTINGS_SQL,
  runningConfig,
  sampleConfig,
  type HostFacts,
  type RunningServer,
} from './config/generate.js';

async function hostFacts(): Promise<HostFacts> {
  const name = hostname();
  // The address the host name resolves to, IPv4 first (as Patroni sorts them); loopback when it resolves to nothing.
  const ip = await lookup(name, { family: 4 }).then((a) => a.address, () => '127.0.0.1');
  return { hostname: name, ip, postgres: installedPostgres() };
}

function clientConfig(dsn: string): pg.ClientConfig & { port?: number } {
  if (/^postgres(ql)?:\/\//.test(dsn)) return { connectionString: dsn };
  const kv = parseConninfo(dsn);
  return {
    ...(kv['host'] ? { host: kv['host'] } : {}),
    ...(kv['port'] ? { port: Number(kv['port']) } : {}),
    ...(kv['user'] ? { user: kv['user'] } : {}),
    ...(kv['password'] ? { password: kv['password'] } : {}),
    database: kv['dbname'] ?? 'postgres',
  };
}

async function readRunningServer(dsn: string): Promise<RunningServer> {
  const config = clientConfig(dsn);
  const user = config.user ?? process.env['PGUSER'] ?? userInfo().username;
  const client = new pg.Client({ ...config, user, connectionTimeoutMillis: 10_000, statement_timeout: 10_000 });
  try {
    await client.connect();
  } catch (e) {
    throw new GenerateConfigError(`cannot connect with --dsn: ${(e as Error).message}`);
  }
  try {
    const version = await client.query<{ v: string; su: string }>("SELECT current_setting('server_version_num') AS v, current_setting('is_superuser') AS su");
    const settings = await client.query<{ name: string; setting: string }>(RUNNING_SETTINGS_SQL, [REQUIRED_SETTINGS]);
    const password = typeof config.password === 'string' ? config.password : process.env['PGPASSWORD'];
    return {
      serverVersionNum: Number(version.rows[0]!.v),
      isSuperuser: version.rows[0]!.su === 'on',
      settings: settings.rows,
      user,
      password,
      dsnPort: config.port !== undefined ? String(config.port) : undefined,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs `--generate-config` / `--generate-sample-config`; the text goes to `output` or stdout. */
export async function generateConfigCommand(options: { dsn?: string | undefined; output?: string | undefined; env: Record<string, string | undefined> }): Promise<void> {
  const host = await hostFacts();
  const config = options.dsn
    ? runningConfig(host, await readRunningServer(options.dsn), (p) => readFileSync(p, 'utf8'), binDirOfPid)
    : sampleConfig(host);
  const text = renderGeneratedConfig(config, options.env);
  if (!options.output) {
    process.stdout.write(text);
    return;
  }
  await mkdir(dirname(options.output), { recursive: true });
  // Passwords inside: readable by its owner only.
  writeFileSync(options.output, text, { mode: 0o600 });
}
