/**
 * switchover and failover, as patronictl runs them: show the topology, ask for what is missing
 * (primary, candidate, when), confirm, then `POST /switchover` (or `/failover`) to the leader's
 * API. When the API cannot be reached at all, the request is written to the DCS `failover` key
 * directly, which the agents act on as they would on the API's own write.
 */
import { isPaused, type Failover } from '@pgha/dcs';
import { mayTakeOver, pausedScheduleRefusal } from '@pgha/ha-engine';
import { listDialect, membersTable } from '../cluster-view.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode, isCliError } from '../errors.js';
import { pythonStr } from '../python-text.js';
import { isoWithOffset, nextHourExample, parseScheduled, timestamp } from '../time-format.js';
import { FORCE_OPTION, GROUP_OPTION, flagOpt, positionals, stringOpt, type CommandDefinition } from './command.js';
import { loadExistingCluster } from './read.js';

const LEADER_OPTION = { key: 'leader', flags: ['--leader', '--primary', '--master'], kind: 'value', help: 'The name of the current leader' } as const;
const CANDIDATE_OPTION = { key: 'candidate', flags: ['--candidate'], kind: 'value', help: 'The name of the candidate' } as const;

function title(action: string): string {
  return action[0]!.toUpperCase() + action.slice(1);
}

async function switchoverOrFailover(
  ctx: CommandContext,
  options: { action: 'switchover' | 'failover'; name: string; leader: string | undefined; candidate: string | undefined; force: boolean; scheduled: string | undefined },
): Promise<number> {
  const { action, name, force } = options;
  let cluster = await loadExistingCluster(ctx, name);
  ctx.emit({ kind: 'text', text: 'Current cluster topology' });
  ctx.emit(membersTable(cluster, { patroniDialect: listDialect(cluster, ctx.config.raw['patroni_compatibility']), name, format: 'pretty' }));

  const leaderName = cluster.leader?.name;
  if (action === 'switchover' && !leaderName) throw new CliError(CliErrorCode.Refused, 'This cluster has no leader');
  let leader = options.leader;
  if (leader === undefined) {
    if (force || action === 'failover') leader = leaderName;
    else leader = await ctx.prompter.prompt(cluster.config?.value.standby_cluster ? 'Standby Leader' : 'Primary', { default: leaderName ?? '' });
  }
  if (leader !== undefined && leaderName !== undefined && leader !== leaderName) {
    throw new CliError(CliErrorCode.NotFound, `Member ${leader} is not the leader of cluster ${name}`);
  }
  // The engine's rule for who may take over (not nofailover, with an API the race can probe).
  const candidates = cluster.members
    .filter((m) => m.name !== leader && mayTakeOver(m))
    .map((m) => m.name)
    .sort();
  if (candidates.length === 0) throw new CliError(CliErrorCode.Refused, `No candidates found to ${action} to`);
  let candidate = options.candidate;
  if (candidate === undefined && !force) {
    candidate = await ctx.prompter.prompt(`Candidate [${candidates.map((c) => `'${c}'`).join(', ')}]`, { default: '' });
  }
  if (action === 'failover' && !candidate) throw new CliError(CliErrorCode.Usage, 'Failover could be performed only to a specific candidate');
  if (candidate === leader) throw new CliError(CliErrorCode.Usage, `${title(action)} target and source are the same.`);
  if (candidate && !candidates.includes(candidate)) throw new CliError(CliErrorCode.NotFound, `Member ${candidate} does not exist in cluster ${name}`);

  let scheduledAt: string | null = null;
  if (action === 'switchover') {
    let scheduled = options.scheduled;
    if (scheduled === undefined && !force) {
      scheduled = await ctx.prompter.prompt(`When should the switchover take place (e.g. ${nextHourExample(ctx.now())} ) `, { default: 'now' });
    }
    const at = parseScheduled(scheduled);
    if (at) {
      if (isPaused(cluster)) throw new CliError(CliErrorCode.Refused, pausedScheduleRefusal('switchover'));
      scheduledAt = isoWithOffset(at);
    }
  }

  if (!force) {
    const demote = leader ? `, demoting current leader ${leader}` : '';
    const question = scheduledAt
      ? `Are you sure you want to schedule ${action} of cluster ${name} at ${scheduledAt}${demote}?`
      : `Are you sure you want to ${action} cluster ${name}${demote}?`;
    if (!(await ctx.prompter.confirm(question))) throw new CliError(CliErrorCode.Aborted, `Aborting ${scheduledAt ? 'scheduled ' : ''}${action}`);
  }

  const body = { leader: leader ?? null, candidate: candidate || null, scheduled_at: scheduledAt };
  const target = cluster.members.find((m) => m.name === (leaderName ?? candidate));
  let status = 0;
  try {
    if (!target) throw new CliError(CliErrorCode.Api, `no member record for ${leaderName ?? candidate}`);
    const r = await ctx.api(target, { method: 'POST', endpoint: action, body });
    if (r.status === 200 || r.status === 202) {
      cluster = await ctx.loadCluster(name);
      ctx.emit({ kind: 'text', text: `${timestamp(ctx.now())} ${r.body}` });
    } else {
      ctx.emit({ kind: 'text', text: `${title(action)} failed, details: ${r.status}, ${r.body}` });
      return 1;
    }
  } catch (e) {
    if (!isCliError(e, CliErrorCode.Api)) throw e;
    ctx.emit({ kind: 'text', text: `${timestamp(ctx.now())} Could not ${action} using Patroni api, falling back to DCS` });
    // patronictl says nothing more; the reason (a refused certificate, say) goes to stderr.
    ctx.warn(e.message);
    const failover: Failover = {};
    if (leader) failover.leader = leader;
    if (candidate) failover.member = candidate;
    if (scheduledAt) failover.scheduled_at = scheduledAt;
    const store = await ctx.store(name);
    const written = await ctx.dcsCall('writing the failover key', () => store.setFailover(failover));
    if (!written) {
      ctx.emit({ kind: 'text', text: `${title(action)} failed: the failover key could not be written (${pythonStr(e.message)})` });
      status = 1;
    }
  }
  ctx.emit(membersTable(cluster, { patroniDialect: listDialect(cluster, ctx.config.raw['patroni_compatibility']), name, format: 'pretty' }));
  return status;
}

export const switchoverCommand: CommandDefinition = {
  name: 'switchover',
  help: 'Switchover to a replica',
  args: '[CLUSTER_NAME]',
  options: [
    GROUP_OPTION,
    LEADER_OPTION,
    CANDIDATE_OPTION,
    { key: 'scheduled', flags: ['--scheduled'], kind: 'value', help: 'Timestamp of a scheduled switchover in unambiguous format (e.g. ISO 8601)' },
    FORCE_OPTION,
  ],
  run(ctx, parsed) {
    return switchoverOrFailover(ctx, {
      action: 'switchover',
      name: ctx.clusterName(positionals(parsed, 1, 'switchover')[0]),
      leader: stringOpt(parsed, 'leader'),
      candidate: stringOpt(parsed, 'candidate'),
      force: flagOpt(parsed, 'force'),
      scheduled: stringOpt(parsed, 'scheduled'),
    });
  },
};

export const failoverCommand: CommandDefinition = {
  name: 'failover',
  help: 'Failover to a replica',
  args: '[CLUSTER_NAME]',
  options: [GROUP_OPTION, LEADER_OPTION, CANDIDATE_OPTION, FORCE_OPTION],
  run(ctx, parsed) {
    const leader = stringOpt(parsed, 'leader');
    return switchoverOrFailover(ctx, {
      action: leader ? 'switchover' : 'failover',
      name: ctx.clusterName(positionals(parsed, 1, 'failover')[0]),
      leader,
      candidate: stringOpt(parsed, 'candidate'),
      force: flagOpt(parsed, 'force'),
      scheduled: undefined,
    });
  },
};
