/**
 * query: runs SQL on a member chosen by role or name, as patronictl does (connect to the member's
 * `conn_url` host and port; user, password and database from the options or libpq's usual
 * environment). Results print as tsv by default; a connection or SQL failure prints patronictl's
 * `<time> ERROR, SQLSTATE: ...` row and makes the exit status 1.
 */
import pg from 'pg';
import type { Cluster } from '@pgha/dcs';
import { connParams, membersWithRole, type RoleChoice } from '../cluster-view.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode } from '../errors.js';
import type { Cell } from '../output.js';
import { timestamp } from '../time-format.js';
import { readFileSync } from 'node:fs';
import {
  FORMAT_OPTION,
  GROUP_OPTION,
  WATCH_FLAG,
  WATCH_OPTION,
  flagOpt,
  formatOpt,
  positionals,
  roleOption,
  stringOpt,
  watchInterval,
  type CommandDefinition,
} from './command.js';
import { loadExistingCluster, roleAndMember } from './read.js';

interface QueryTarget {
  role: RoleChoice;
  member: string | undefined;
  user: string | undefined;
  password: string | undefined;
  database: string | undefined;
}

// Text as PostgreSQL sends it, except booleans and NULL which patronictl prints as Python does.
const rawTypes = { getTypeParser: (oid: number) => (oid === 16 ? (v: string) => v === 't' : (v: string) => v) };

async function runQuery(ctx: CommandContext, cluster: Cluster, target: QueryTarget, sql: string): Promise<{ columns: string[] | null; rows: Cell[][]; failed: boolean }> {
  const fail = (message: string): { columns: null; rows: Cell[][]; failed: boolean } => ({ columns: null, rows: [[timestamp(ctx.now(), 0), message]], failed: true });
  if (target.member !== undefined && !cluster.members.some((m) => m.name === target.member)) {
    throw new CliError(CliErrorCode.NotFound, `Member ${target.member} is not a member of cluster ${cluster.members.length > 0 ? 'the cluster' : ''}`.trimEnd());
  }
  const candidates = membersWithRole(cluster, target.role).filter((m) => target.member === undefined || m.name === target.member);
  const member = candidates[0];
  const conn = member ? connParams(member) : null;
  if (!member || !conn) {
    return fail(target.member !== undefined ? `No connection to member ${target.member} is available` : `No connection to role=${target.role} is available`);
  }
  const client = new pg.Client({
    host: conn.host,
    port: conn.port,
    ...(target.user !== undefined ? { user: target.user } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.database !== undefined ? { database: target.database } : {}),
    application_name: 'pghactl',
    connectionTimeoutMillis: 5000,
    types: rawTypes,
  });
  try {
    await client.connect();
    if (target.role === 'replica' || target.role === 'standby' || target.role === 'standby-leader' || target.role === 'primary' || target.role === 'master') {
      const r = await client.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r');
      const inRecovery = r.rows[0]?.r === true;
      if (inRecovery !== (target.role !== 'primary' && target.role !== 'master')) return fail(`No connection to role=${target.role} is available`);
    }
    const result = await client.query({ text: sql, rowMode: 'array' });
    const last = Array.isArray(result) ? (result.at(-1) as pg.QueryArrayResult) : (result as pg.QueryArrayResult);
    const columns = last.fields.map((f) => f.name);
    const rows = (last.rows as unknown[][]).map((row) => row.map((v): Cell => (v === null ? 'None' : typeof v === 'boolean' ? v : String(v))));
    return { columns: columns.length > 0 ? columns : null, rows, failed: false };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return fail(`ERROR, SQLSTATE: ${(err.code ?? err.message ?? String(e)).replace(/\n/g, ' ')}${err.code && err.message ? ` (${err.message.replace(/\n/g, ' ')})` : ''}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const queryCommand: CommandDefinition = {
  name: 'query',
  help: 'Query a Patroni PostgreSQL member',
  args: '[CLUSTER_NAME]',
  options: [
    GROUP_OPTION,
    { ...FORMAT_OPTION, flags: ['--format'] },
    { key: 'file', flags: ['-f', '--file'], kind: 'value', help: 'Execute the SQL commands from this file' },
    { key: 'password', flags: ['--password'], kind: 'flag', help: 'force password prompt' },
    { key: 'username', flags: ['-U', '--username'], kind: 'value', help: 'database user name' },
    WATCH_FLAG,
    WATCH_OPTION,
    roleOption('The role of the query'),
    { key: 'member', flags: ['-m', '--member'], kind: 'value', help: 'Query a specific member' },
    { key: 'delimiter', flags: ['--delimiter'], kind: 'value', help: 'The column delimiter' },
    { key: 'command', flags: ['-c', '--command'], kind: 'value', help: 'The SQL commands to execute' },
    { key: 'dbname', flags: ['-d', '--dbname'], kind: 'value', help: 'database name to connect to' },
  ],
  async run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'query')[0]);
    const { role, member } = roleAndMember(parsed);
    const file = stringOpt(parsed, 'file');
    let sql = stringOpt(parsed, 'command');
    if (file !== undefined && sql !== undefined) throw new CliError(CliErrorCode.Usage, '--file and --command are mutually exclusive options');
    if (file === undefined && sql === undefined) throw new CliError(CliErrorCode.Usage, 'You need to specify either --command or --file');
    const password = flagOpt(parsed, 'password') ? await ctx.prompter.prompt('Password', { hidden: true }) : undefined;
    if (file !== undefined) {
      try {
        sql = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      } catch (e) {
        throw new CliError(CliErrorCode.Usage, `Invalid value for '--file' / '-f': '${file}': ${(e as Error).message}`);
      }
    }
    // libpq's variables, read from the invocation's environment (pg would read process.env).
    const target: QueryTarget = {
      role,
      member,
      user: stringOpt(parsed, 'username') ?? ctx.env.PGUSER,
      password: password ?? ctx.env.PGPASSWORD,
      database: stringOpt(parsed, 'dbname') ?? ctx.env.PGDATABASE,
    };
    const interval = watchInterval(parsed);
    let status = 0;
    for (;;) {
      const cluster = await loadExistingCluster(ctx, name);
      const r = await runQuery(ctx, cluster, target, sql!);
      if (r.failed) status = 1;
      ctx.emit({ kind: 'table', columns: r.columns, rows: r.rows, format: formatOpt(parsed, 'tsv'), delimiter: stringOpt(parsed, 'delimiter') ?? '\t' });
      if (interval === null) return status;
      await ctx.sleep(interval * 1000);
    }
  },
};
