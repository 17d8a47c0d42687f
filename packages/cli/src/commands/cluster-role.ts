/**
 * `demote-cluster` and `promote-cluster` (patronictl 4.1): turn a cluster into a standby cluster
 * of a remote primary, or a standby cluster into a standalone one. As patronictl, the change is
 * one `PATCH /config` of `standby_cluster` on the leader's REST API (the agents do the rest: the
 * primary restarts as a standby leader, or the standby leader promotes); the command then polls
 * the DCS every second until the leader reports the new role, running.
 */
import type { Cluster, Member } from '@pgha/dcs';
import { listDialect, membersTable } from '../cluster-view.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode, isCliError } from '../errors.js';
import { timestamp } from '../time-format.js';
import { FORCE_OPTION, flagOpt, positionals, stringOpt, type CommandDefinition } from './command.js';
import { loadExistingCluster } from './read.js';

/** The leader member's role in its key: Patroni 3 writes `master`, 4 `primary`. */
const PRIMARY_ROLES = ['primary', 'master'];

function leaderMember(cluster: Cluster): Member | undefined {
  return cluster.members.find((m) => m.name === cluster.leader?.name);
}

function hasTargetRole(role: unknown, demote: boolean): boolean {
  return demote ? role === 'standby_leader' : typeof role === 'string' && PRIMARY_ROLES.includes(role);
}

function showTopology(ctx: CommandContext, cluster: Cluster, name: string): void {
  ctx.emit(membersTable(cluster, { patroniDialect: listDialect(cluster, ctx.config.raw['patroni_compatibility']), name, format: 'pretty' }));
}

/** patronictl's `change_cluster_role`: `standbyConfig` null promotes, a section demotes. */
export async function changeClusterRole(ctx: CommandContext, name: string, force: boolean, standbyConfig: Record<string, unknown> | null): Promise<number> {
  const demote = standbyConfig !== null;
  const action = demote ? 'demot' : 'promot';
  let cluster = await loadExistingCluster(ctx, name);
  const leaderName = cluster.leader?.name;
  const leader = leaderMember(cluster);
  if (!leaderName || !leader) throw new CliError(CliErrorCode.Refused, `Cluster has no leader, ${action}ion is not possible`);
  if (hasTargetRole(leader.data.role, demote)) throw new CliError(CliErrorCode.Refused, 'Cluster is already in the required state');

  ctx.emit({ kind: 'text', text: 'Current cluster topology' });
  showTopology(ctx, cluster, name);
  if (!force && !(await ctx.prompter.confirm(`Are you sure you want to ${action}e ${name} cluster?`))) {
    throw new CliError(CliErrorCode.Aborted, `Aborted cluster ${action}ion`);
  }

  let response;
  try {
    response = await ctx.api(leader, { method: 'PATCH', endpoint: 'config', body: { standby_cluster: standbyConfig } });
  } catch (e) {
    if (isCliError(e, CliErrorCode.Api)) throw new CliError(CliErrorCode.Api, `Failed to ${action}e ${name} cluster: ${e.message}`);
    throw e;
  }
  if (response.status !== 200) {
    throw new CliError(CliErrorCode.Api, `Failed to ${action}e ${name} cluster: /config PATCH status code=${response.status}, (${response.body})`);
  }

  // As patronictl: no time limit (Ctrl-C stops watching; the change is made either way).
  for (;;) {
    cluster = await ctx.loadCluster(name);
    const unlocked = cluster.leader === null;
    const current = leaderMember(cluster);
    const role = current?.data.role;
    const state = current?.data.state;
    const oldLeaderState = cluster.members.find((m) => m.name === leaderName)?.data.state;
    // A demotion is done when the old primary runs again too (it restarts as a replica or standby leader).
    if (!unlocked && hasTargetRole(role, demote) && state === 'running' && (!demote || oldLeaderState === 'running')) {
      ctx.emit({ kind: 'text', text: `${timestamp(ctx.now(), 0)} cluster is successfully ${action}ed` });
      break;
    }
    const parts = [`${timestamp(ctx.now(), 0)} cluster is unlocked: ${unlocked ? 'True' : 'False'}`, `leader role: ${String(role ?? 'None')}`, `leader state: ${String(state ?? 'None')}`];
    if (demote && current && current.name !== leaderName && oldLeaderState) parts.push(`previous leader state: '${oldLeaderState}'`);
    ctx.emit({ kind: 'text', text: parts.join(', ') });
    await ctx.sleep(1000);
  }
  showTopology(ctx, cluster, name);
  return 0;
}

export const demoteClusterCommand: CommandDefinition = {
  name: 'demote-cluster',
  help: 'Demote cluster to a standby cluster',
  args: '[CLUSTER_NAME]',
  options: [
    FORCE_OPTION,
    { key: 'host', flags: ['--host'], kind: 'value', help: 'Address of the remote node' },
    { key: 'port', flags: ['--port'], kind: 'value', help: 'Port of the remote node' },
    { key: 'restoreCommand', flags: ['--restore-command'], kind: 'value', help: 'Command to restore WAL records from the remote primary' },
    { key: 'primarySlotName', flags: ['--primary-slot-name'], kind: 'value', help: 'Name of the slot on the remote node to use for replication' },
  ],
  run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'demote-cluster')[0]);
    const host = stringOpt(parsed, 'host');
    const portText = stringOpt(parsed, 'port');
    const restoreCommand = stringOpt(parsed, 'restoreCommand');
    const slot = stringOpt(parsed, 'primarySlotName');
    let port: number | undefined;
    if (portText !== undefined) {
      if (!/^\s*[+-]?\d+\s*$/.test(portText)) throw new CliError(CliErrorCode.Usage, `Invalid value for '--port': '${portText}' is not a valid integer.`);
      port = Number(portText);
    }
    if (!host && !port && !restoreCommand) throw new CliError(CliErrorCode.Refused, 'At least --host, --port or --restore-command should be specified');
    // As patronictl: only the options given (and non-empty) go into the section.
    const section: Record<string, unknown> = {};
    if (host) section['host'] = host;
    if (port) section['port'] = port;
    if (slot) section['primary_slot_name'] = slot;
    if (restoreCommand) section['restore_command'] = restoreCommand;
    return changeClusterRole(ctx, name, flagOpt(parsed, 'force'), section);
  },
};

export const promoteClusterCommand: CommandDefinition = {
  name: 'promote-cluster',
  help: 'Promote cluster, make it run standalone',
  args: '[CLUSTER_NAME]',
  options: [FORCE_OPTION],
  run: (ctx, parsed) => changeClusterRole(ctx, ctx.clusterName(positionals(parsed, 1, 'promote-cluster')[0]), flagOpt(parsed, 'force'), null),
};
