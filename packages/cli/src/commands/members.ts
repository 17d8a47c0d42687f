/** Commands that act on members through their REST APIs: restart, reload, reinit, flush. */
import { isPaused, type Cluster, type Member } from '@pgha/dcs';
import { pausedScheduleRefusal, postgresVersionToInt } from '@pgha/ha-engine';
import { listDialect, membersTable, membersWithRole, type RoleChoice } from '../cluster-view.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode, isCliError } from '../errors.js';
import type { ApiRequest, ApiResponse } from '../member-api.js';
import { isoWithOffset, nextHourExample, parseScheduled, timestamp } from '../time-format.js';
import { FORCE_OPTION, GROUP_OPTION, flagOpt, roleOpt, roleOption, stringOpt, type CommandDefinition } from './command.js';
import { loadExistingCluster } from './read.js';

const byName = (a: Member, b: Member): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * patronictl's `get_members`: shows the cluster, picks the members named (or all of `role`; for
 * reinit it asks which one), and confirms the action unless `--force`.
 */
export async function selectMembers(
  ctx: CommandContext,
  cluster: Cluster,
  options: { name: string; memberNames: string[]; role: RoleChoice; force: boolean; action: string; confirm?: boolean; showTable?: boolean },
): Promise<Member[]> {
  const members = membersWithRole(cluster, options.role).sort(byName);
  const candidates = members.map((m) => m.name);
  if (options.showTable !== false) {
    if (options.memberNames.length === 0 && candidates.length === 0) throw new CliError(CliErrorCode.NotFound, `${options.name} cluster doesn't have any members`);
    ctx.emit(membersTable(cluster, { patroniDialect: listDialect(cluster, ctx.config.raw['patroni_compatibility']), name: options.name, format: 'pretty' }));
  }
  let names = options.memberNames;
  if (names.length > 0) {
    const unknown = names.filter((n) => !cluster.members.some((m) => m.name === n));
    if (unknown.length > 0) throw new CliError(CliErrorCode.NotFound, `${unknown.join(', ')} is not a member of cluster ${options.name}`);
    names = names.filter((n) => candidates.includes(n));
    if (names.length === 0) throw new CliError(CliErrorCode.NotFound, `No ${options.role} among provided members`);
  } else if (options.action !== 'reinitialize') {
    names = candidates;
  }
  if (names.length === 0 && !options.force) {
    names = [await ctx.prompter.prompt(`Which member do you want to ${options.action} [${candidates.join(', ')}]?`, { default: '' })];
  }
  for (const n of names) {
    if (!candidates.includes(n)) throw new CliError(CliErrorCode.NotFound, `${n} is not a member of cluster ${options.name}`);
  }
  const picked = members.filter((m) => names.includes(m.name));
  if (options.confirm !== false) await confirmMembersAction(ctx, picked, options.force, options.action, null);
  return picked;
}

export async function confirmMembersAction(ctx: CommandContext, members: Member[], force: boolean, action: string, scheduledAt: string | null): Promise<void> {
  if (force) return;
  const names = members.map((m) => m.name).join(', ');
  if (scheduledAt) {
    if (!(await ctx.prompter.confirm(`Are you sure you want to schedule ${action} of members ${names} at ${scheduledAt}?`))) {
      throw new CliError(CliErrorCode.Aborted, `Aborted scheduled ${action}`);
    }
  } else if (!(await ctx.prompter.confirm(`Are you sure you want to ${action} members ${names}?`))) {
    throw new CliError(CliErrorCode.Aborted, `Aborted ${action}`);
  }
}

/** A REST call whose transport failure is reported as a `Failed:` line instead of ending the command. */
async function tryApi(ctx: CommandContext, member: Member, req: ApiRequest): Promise<ApiResponse | string> {
  try {
    return await ctx.api(member, req);
  } catch (e) {
    if (isCliError(e, CliErrorCode.Api)) return e.message;
    throw e;
  }
}

function failedLine(action: string, member: string, r: ApiResponse | string): string {
  return typeof r === 'string' ? `Failed: ${action} for member ${member}, ${r}` : `Failed: ${action} for member ${member}, status code=${r.status}, (${r.body})`;
}

function memberArgs(ctx: CommandContext, positional: string[]): { name: string; members: string[] } {
  const [first, ...rest] = positional;
  if (first === undefined) throw new CliError(CliErrorCode.Usage, "Missing argument 'CLUSTER_NAME'.");
  return { name: ctx.clusterName(first), members: rest };
}

export const restartCommand: CommandDefinition = {
  name: 'restart',
  help: 'Restart cluster member',
  args: 'CLUSTER_NAME [MEMBER_NAMES]...',
  options: [
    GROUP_OPTION,
    roleOption('Restart only members with this role'),
    { key: 'any', flags: ['--any'], kind: 'flag', help: 'Restart a single member only' },
    { key: 'scheduled', flags: ['--scheduled'], kind: 'value', help: 'Timestamp of a scheduled restart in unambiguous format (e.g. ISO 8601)' },
    { key: 'pgVersion', flags: ['--pg-version'], kind: 'value', help: 'Restart if the PostgreSQL version is less than provided (e.g. 9.5.2)' },
    { key: 'pending', flags: ['--pending'], kind: 'flag', help: 'Restart if pending' },
    { key: 'timeout', flags: ['--timeout'], kind: 'value', help: 'Return error and fail over if necessary when restarting takes longer than this.' },
    FORCE_OPTION,
  ],
  async run(ctx, parsed) {
    const { name, members: memberNames } = memberArgs(ctx, parsed.positionals);
    const force = flagOpt(parsed, 'force');
    const cluster = await loadExistingCluster(ctx, name);
    let members = await selectMembers(ctx, cluster, { name, memberNames, role: roleOpt(parsed) ?? 'any', force, action: 'restart', confirm: false });
    let scheduled = stringOpt(parsed, 'scheduled');
    if (scheduled === undefined && !force) {
      scheduled = await ctx.prompter.prompt(`When should the restart take place (e.g. ${nextHourExample(ctx.now())}) `, { default: 'now' });
    }
    const scheduledAt = parseScheduled(scheduled);
    const scheduledText = scheduledAt ? isoWithOffset(scheduledAt) : null;
    await confirmMembersAction(ctx, members, force, 'restart', scheduledText);
    if (flagOpt(parsed, 'any')) members = [members[Math.floor(Math.random() * members.length)]!].filter(Boolean);
    // Replicas first: restarting the leader while replicas wait their turn cuts their streaming.
    members = [...members.filter((m) => m.name !== cluster.leader?.name), ...members.filter((m) => m.name === cluster.leader?.name)];
    let version = stringOpt(parsed, 'pgVersion');
    if (version === undefined && !force) {
      version = await ctx.prompter.prompt('Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ', { default: '' });
    }
    const content: Record<string, unknown> = {};
    if (flagOpt(parsed, 'pending')) content.restart_pending = true;
    if (version) {
      if (postgresVersionToInt(version) === null) throw new CliError(CliErrorCode.Usage, `${version} is not a valid PostgreSQL version`);
      content.postgres_version = version;
    }
    if (scheduledText) {
      if (isPaused(cluster)) throw new CliError(CliErrorCode.Refused, pausedScheduleRefusal('restart'));
      content.schedule = scheduledText;
    }
    const timeout = stringOpt(parsed, 'timeout');
    if (timeout !== undefined) content.timeout = timeout;
    let status = 0;
    for (const member of members) {
      if (content.schedule && force && member.data.scheduled_restart) {
        const r = await tryApi(ctx, member, { method: 'DELETE', endpoint: 'restart' });
        if (typeof r === 'string' || r.status >= 400) ctx.emit({ kind: 'text', text: failedLine('flush scheduled restart', member.name, r) });
      }
      const r = await tryApi(ctx, member, { method: 'POST', endpoint: 'restart', body: content });
      if (typeof r !== 'string' && r.status === 200) ctx.emit({ kind: 'text', text: `Success: restart on member ${member.name}` });
      else if (typeof r !== 'string' && r.status === 202) ctx.emit({ kind: 'text', text: `Success: restart scheduled on member ${member.name}` });
      else {
        status = 1;
        if (typeof r !== 'string' && r.status === 409) ctx.emit({ kind: 'text', text: `Failed: another restart is already scheduled on member ${member.name}` });
        else ctx.emit({ kind: 'text', text: failedLine('restart', member.name, r) });
      }
    }
    return status;
  },
};

export const reloadCommand: CommandDefinition = {
  name: 'reload',
  help: 'Reload cluster member configuration',
  args: 'CLUSTER_NAME [MEMBER_NAMES]...',
  options: [GROUP_OPTION, roleOption('Reload only members with this role'), FORCE_OPTION],
  async run(ctx, parsed) {
    const { name, members: memberNames } = memberArgs(ctx, parsed.positionals);
    const cluster = await loadExistingCluster(ctx, name);
    const members = await selectMembers(ctx, cluster, { name, memberNames, role: roleOpt(parsed) ?? 'any', force: flagOpt(parsed, 'force'), action: 'reload' });
    let status = 0;
    for (const member of members) {
      const r = await tryApi(ctx, member, { method: 'POST', endpoint: 'reload' });
      if (typeof r !== 'string' && r.status === 200) ctx.emit({ kind: 'text', text: `No changes to apply on member ${member.name}` });
      else if (typeof r !== 'string' && r.status === 202) {
        const loopWait = cluster.config?.value.loop_wait;
        ctx.emit({ kind: 'text', text: `Reload request received for member ${member.name} and will be processed within ${String(loopWait ?? 10)} seconds` });
      } else {
        status = 1;
        ctx.emit({ kind: 'text', text: failedLine('reload', member.name, r) });
      }
    }
    return status;
  },
};

export const reinitCommand: CommandDefinition = {
  name: 'reinit',
  help: 'Reinitialize cluster member',
  args: 'CLUSTER_NAME [MEMBER_NAMES]...',
  options: [
    GROUP_OPTION,
    FORCE_OPTION,
    { key: 'fromLeader', flags: ['--from-leader'], kind: 'flag', help: 'Get basebackup directly from leader' },
    { key: 'wait', flags: ['--wait'], kind: 'flag', help: 'Wait until reinitialization completes' },
  ],
  async run(ctx, parsed) {
    const { name, members: memberNames } = memberArgs(ctx, parsed.positionals);
    const force = flagOpt(parsed, 'force');
    const cluster = await loadExistingCluster(ctx, name);
    const members = await selectMembers(ctx, cluster, { name, memberNames, role: 'replica', force, action: 'reinitialize' });
    let status = 0;
    const waitOn: Member[] = [];
    for (const member of members) {
      const body: Record<string, unknown> = { force };
      if (flagOpt(parsed, 'fromLeader')) body.from_leader = true;
      for (;;) {
        const r = await tryApi(ctx, member, { method: 'POST', endpoint: 'reinitialize', body });
        const started = typeof r !== 'string' && r.status < 400;
        ctx.emit({ kind: 'text', text: started ? `Success: reinitialize for member ${member.name}` : failedLine('reinitialize', member.name, r) });
        if (!started && typeof r !== 'string' && r.body.endsWith(' already in progress') && !force && (await ctx.prompter.confirm('Do you want to cancel it and reinitialize anyway?'))) {
          body.force = true;
          continue;
        }
        if (!started) status = 1;
        if (started && flagOpt(parsed, 'wait')) waitOn.push(member);
        break;
      }
    }
    let shown = '';
    while (waitOn.length > 0) {
      const list = waitOn.map((m) => m.name).join(', ');
      if (list !== shown) ctx.emit({ kind: 'text', text: `Waiting for reinitialize to complete on: ${list}` });
      shown = list;
      await ctx.sleep(2000);
      for (const member of [...waitOn]) {
        const r = await tryApi(ctx, member, { method: 'GET', endpoint: 'patroni' });
        if (typeof r === 'string') continue;
        let state: unknown;
        try {
          state = (JSON.parse(r.body) as { state?: unknown }).state;
        } catch {
          continue;
        }
        if (state !== 'creating replica') {
          ctx.emit({ kind: 'text', text: `Reinitialize is completed on: ${member.name}` });
          waitOn.splice(waitOn.indexOf(member), 1);
        }
      }
    }
    return status;
  },
};

/** Members with an API, the leader first (who to ask for cluster-wide changes). */
export function leaderFirst(cluster: Cluster): Member[] {
  const leader = cluster.members.find((m) => m.name === cluster.leader?.name && m.data.api_url);
  return [...(leader ? [leader] : []), ...cluster.members.filter((m) => m.data.api_url && m !== leader)];
}

export const flushCommand: CommandDefinition = {
  name: 'flush',
  help: 'Discard scheduled events',
  args: 'CLUSTER_NAME [MEMBER_NAMES]... {restart|switchover}',
  options: [GROUP_OPTION, roleOption('Flush only members with this role'), FORCE_OPTION],
  async run(ctx, parsed) {
    const target = parsed.positionals.at(-1);
    if (target !== 'restart' && target !== 'switchover') {
      throw new CliError(CliErrorCode.Usage, `Invalid value for '{restart|switchover}': '${target ?? ''}' is not one of 'restart', 'switchover'.`);
    }
    const { name, members: memberNames } = memberArgs(ctx, parsed.positionals.slice(0, -1));
    const cluster = await loadExistingCluster(ctx, name);
    if (target === 'restart') {
      const members = await selectMembers(ctx, cluster, { name, memberNames, role: roleOpt(parsed) ?? 'any', force: flagOpt(parsed, 'force'), action: 'flush' });
      let status = 0;
      for (const member of members) {
        if (!member.data.scheduled_restart) {
          ctx.emit({ kind: 'text', text: `No scheduled restart for member ${member.name}` });
          continue;
        }
        const r = await tryApi(ctx, member, { method: 'DELETE', endpoint: 'restart' });
        if (typeof r !== 'string' && r.status < 400) ctx.emit({ kind: 'text', text: `Success: flush scheduled restart for member ${member.name}` });
        else {
          status = 1;
          ctx.emit({ kind: 'text', text: failedLine('flush scheduled restart', member.name, r) });
        }
      }
      return status;
    }
    const failover = cluster.failover;
    if (!failover?.value.scheduled_at) {
      ctx.emit({ kind: 'text', text: 'No pending scheduled switchover' });
      return 0;
    }
    for (const member of leaderFirst(cluster)) {
      const r = await tryApi(ctx, member, { method: 'DELETE', endpoint: 'switchover' });
      if (typeof r !== 'string' && (r.status === 200 || r.status === 404)) {
        ctx.emit({ kind: 'text', text: `${r.status === 200 ? 'Success' : 'Failed'}: ${r.body}` });
        return r.status === 200 ? 0 : 1;
      }
      ctx.emit({ kind: 'text', text: typeof r === 'string' ? `Failed: member=${member.name}, ${r}` : `Failed: member=${member.name}, status_code=${r.status}, (${r.body})` });
    }
    // No member could do it: clear the key ourselves, only if it is still the one we saw.
    ctx.emit({ kind: 'text', text: `${timestamp(ctx.now(), 0)} Could not find any accessible member of cluster ${name}` });
    const store = await ctx.store(name);
    const cleared = await ctx.dcsCall('clearing the failover key', () => store.clearFailover(failover.version));
    if (!cleared) throw new CliError(CliErrorCode.Refused, 'The scheduled switchover changed meanwhile; nothing was flushed');
    return 0;
  },
};
