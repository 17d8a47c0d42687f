/** Read-only commands, answered from the DCS: list, topology, history, show-config, dsn, version. */
import type { Cluster } from '@pgha/dcs';
import { dynamicConfigProblem } from '@pgha/ha-engine';
import { clusterIsEmpty, connParams, listDialect, membersTable, membersWithRole, type RoleChoice } from '../cluster-view.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode } from '../errors.js';
import type { OutputFormat } from '../output.js';
import { timestamp } from '../time-format.js';
import {
  FORMAT_OPTION,
  GROUP_OPTION,
  WATCH_FLAG,
  WATCH_OPTION,
  flagOpt,
  formatOpt,
  positionals,
  roleOption,
  roleOpt,
  stringOpt,
  watchInterval,
  type CommandDefinition,
} from './command.js';

/** Loads a cluster that must exist: nothing under its prefix is an unknown cluster. */
export async function loadExistingCluster(ctx: CommandContext, name: string): Promise<Cluster> {
  const cluster = await ctx.loadCluster(name);
  if (clusterIsEmpty(cluster)) {
    throw new CliError(CliErrorCode.NotFound, `Cluster '${name}' not found: the DCS has nothing under ${ctx.config.namespace.replace(/\/+$/, '')}/${name}/`);
  }
  return cluster;
}

async function listClusters(ctx: CommandContext, names: string[], options: { format: OutputFormat; extended: boolean; ts: boolean }): Promise<void> {
  if (options.ts) ctx.emit({ kind: 'text', text: timestamp(ctx.now(), 0) });
  for (const name of names) {
    const cluster = await loadExistingCluster(ctx, name);
    ctx.emit(membersTable(cluster, { patroniDialect: listDialect(cluster, ctx.config.raw['patroni_compatibility']), name, extended: options.extended, format: options.format }));
  }
}

async function watching(ctx: CommandContext, interval: number | null, once: () => Promise<void>): Promise<void> {
  await once();
  while (interval !== null) {
    await ctx.sleep(interval * 1000);
    await once();
  }
}

function clusterNames(ctx: CommandContext, given: string[]): string[] {
  if (given.length > 0) return given;
  return [ctx.clusterName(undefined)];
}

export const listCommand: CommandDefinition = {
  name: 'list',
  help: 'List the Patroni members for a given Patroni',
  args: '[CLUSTER_NAMES]...',
  options: [
    GROUP_OPTION,
    { key: 'extended', flags: ['-e', '--extended'], kind: 'flag', help: 'Show some extra information' },
    { key: 'ts', flags: ['-t', '--timestamp'], kind: 'flag', help: 'Print timestamp' },
    FORMAT_OPTION,
    WATCH_FLAG,
    WATCH_OPTION,
  ],
  async run(ctx, parsed) {
    const names = clusterNames(ctx, parsed.positionals);
    const options = { format: formatOpt(parsed), extended: flagOpt(parsed, 'extended'), ts: flagOpt(parsed, 'ts') };
    await watching(ctx, watchInterval(parsed), () => listClusters(ctx, names, options));
    return 0;
  },
};

export const topologyCommand: CommandDefinition = {
  name: 'topology',
  help: 'Prints ASCII topology for given cluster',
  args: '[CLUSTER_NAMES]...',
  options: [GROUP_OPTION, WATCH_FLAG, WATCH_OPTION],
  async run(ctx, parsed) {
    const names = clusterNames(ctx, parsed.positionals);
    await watching(ctx, watchInterval(parsed), () => listClusters(ctx, names, { format: 'topology', extended: false, ts: false }));
    return 0;
  },
};

export const historyCommand: CommandDefinition = {
  name: 'history',
  help: 'Show the history of failovers/switchovers',
  args: '[CLUSTER_NAME]',
  options: [GROUP_OPTION, FORMAT_OPTION],
  async run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'history')[0]);
    const cluster = await loadExistingCluster(ctx, name);
    const rows = (cluster.history?.value ?? []).map((h) => [h.timeline, h.lsn, h.reason, h.timestamp ?? '', h.new_leader ?? '']);
    ctx.emit({ kind: 'table', columns: ['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader'], rows, align: { TL: 'r', LSN: 'r' }, format: formatOpt(parsed) });
    return 0;
  },
};

export const showConfigCommand: CommandDefinition = {
  name: 'show-config',
  help: 'Show cluster configuration',
  args: '[CLUSTER_NAME]',
  options: [GROUP_OPTION],
  async run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'show-config')[0]);
    const cluster = await loadExistingCluster(ctx, name);
    warnIfInvalid(ctx, cluster);
    ctx.emit({ kind: 'yaml', data: cluster.config?.value ?? {} });
    return 0;
  },
};

/** `--role` / `--member` as patronictl combines them for dsn and query. */
export function roleAndMember(parsed: Parameters<CommandDefinition['run']>[1]): { role: RoleChoice; member: string | undefined } {
  const member = stringOpt(parsed, 'member');
  const role = roleOpt(parsed);
  if (member !== undefined && role !== undefined) throw new CliError(CliErrorCode.Usage, '--role and --member are mutually exclusive options');
  return { role: member !== undefined ? 'any' : (role ?? 'leader'), member };
}

export const dsnCommand: CommandDefinition = {
  name: 'dsn',
  help: 'Generate a dsn for the provided member, defaults to a dsn of the leader',
  args: '[CLUSTER_NAME]',
  options: [
    roleOption('Give a dsn of any member with this role'),
    { key: 'member', flags: ['-m', '--member'], kind: 'value', help: 'Generate a dsn for this member' },
    GROUP_OPTION,
  ],
  async run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'dsn')[0]);
    const { role, member } = roleAndMember(parsed);
    const cluster = await loadExistingCluster(ctx, name);
    const m = membersWithRole(cluster, role).find((x) => member === undefined || x.name === member);
    const conn = m ? connParams(m) : null;
    if (!m || !conn) {
      throw new CliError(CliErrorCode.NotFound, member !== undefined ? `Can not find a suitable member: no member ${member} in cluster ${name}` : `Can not find a suitable member: no ${role} in cluster ${name}`);
    }
    ctx.emit({ kind: 'text', text: `host=${conn.host} port=${conn.port}` });
    return 0;
  },
};

function formatPgVersion(v: number): string {
  return v < 100000 ? `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}` : `${Math.floor(v / 10000)}.${v % 100}`;
}

export const PGHACTL_VERSION = '0.1.0';

export const versionCommand: CommandDefinition = {
  name: 'version',
  help: 'Output version of pghactl command or a running Patroni instance',
  args: '[CLUSTER_NAME] [MEMBER_NAMES]...',
  options: [GROUP_OPTION],
  async run(ctx, parsed) {
    ctx.emit({ kind: 'text', text: `pghactl version ${PGHACTL_VERSION}` });
    const [name, ...memberNames] = parsed.positionals;
    if (!name) return 0;
    ctx.emit({ kind: 'text', text: '' });
    const cluster = await loadExistingCluster(ctx, name);
    let status = 0;
    for (const m of cluster.members) {
      if (!m.data.api_url || (memberNames.length > 0 && !memberNames.includes(m.name))) continue;
      try {
        const r = await ctx.api(m, { method: 'GET', endpoint: 'patroni' });
        const data = JSON.parse(r.body) as { patroni?: { version?: string }; server_version?: number };
        const pg = typeof data.server_version === 'number' ? ` PostgreSQL ${formatPgVersion(data.server_version)}` : '';
        ctx.emit({ kind: 'text', text: `${m.name}: Patroni ${data.patroni?.version ?? 'unknown'}${pg}` });
      } catch (e) {
        status = 1;
        ctx.emit({ kind: 'text', text: `${m.name}: failed to get version: ${(e as Error).message}` });
      }
    }
    return status;
  },
};

/**
 * Says on stderr when the stored `config` value is not one the agents apply (it does not parse, or
 * is out of range): they keep running on the last good configuration, so what is printed (or,
 * for a broken key, nothing) is not what the cluster runs on.
 */
export function warnIfInvalid(ctx: CommandContext, cluster: Cluster): void {
  if (cluster.configError) {
    ctx.warn(`the config key in the DCS is invalid (${cluster.configError.value}); the members keep running on their last good configuration. Fix it with edit-config.`);
    return;
  }
  const problem = cluster.config ? dynamicConfigProblem(cluster.config.value) : null;
  if (problem) ctx.warn(`the configuration in the DCS is invalid (${problem}); fix it with edit-config.`);
}
