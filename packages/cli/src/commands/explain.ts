/**
 * `pghactl explain`: who would win a failover now, and why each other member would not (from
 * every member's GET /patroni, judged by the engine's race rule); `--history`: why the last
 * failovers and switchovers went as they did (from every member's GET /decisions).
 */
import type { Member } from '@pgha/dcs';
import type { DecisionRecord } from '@pgha/ha-engine';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode } from '../errors.js';
import { explainFailover, failoverHistory, recordsOf, verdictText, type MemberAnswer } from '../explain.js';
import type { Cell } from '../output.js';
import { FORMAT_OPTION, GROUP_OPTION, flagOpt, formatOpt, positionals, stringOpt, type CommandDefinition } from './command.js';
import { loadExistingCluster } from './read.js';

const DEFAULT_HISTORY_ROWS = 20;

async function askAll<T>(ctx: CommandContext, members: readonly Member[], endpoint: string, read: (m: Member, body: unknown) => T, failed: (m: Member, why: string) => T): Promise<T[]> {
  return Promise.all(
    members.map(async (m) => {
      if (!m.data.api_url) return failed(m, 'no api_url in its member key');
      try {
        const r = await ctx.api(m, { method: 'GET', endpoint });
        if (r.status !== 200) return failed(m, `GET /${endpoint} answered ${r.status}: ${r.body.slice(0, 200)}`);
        return read(m, JSON.parse(r.body) as unknown);
      } catch (e) {
        return failed(m, (e as Error).message);
      }
    }),
  );
}

export const explainCommand: CommandDefinition = {
  name: 'explain',
  help: 'Show which member would win a failover and why the others would not (--history: why the last ones went as they did)',
  args: '[CLUSTER_NAME]',
  options: [
    GROUP_OPTION,
    { key: 'history', flags: ['--history'], kind: 'flag', help: "Explain the last failovers and switchovers from the members' decision records" },
    { key: 'limit', flags: ['--limit'], kind: 'value', help: `With --history: rows shown at most (default ${DEFAULT_HISTORY_ROWS})` },
    FORMAT_OPTION,
  ],
  async run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'explain')[0]);
    const cluster = await loadExistingCluster(ctx, name);
    const format = formatOpt(parsed);
    const title = ` Cluster: ${name} `;
    if (!flagOpt(parsed, 'history')) {
      const [status, lags] = await Promise.all([
        askAll<MemberAnswer>(ctx, cluster.members, 'patroni', (m, json) => ({ name: m.name, json }), (m, error) => ({ name: m.name, error })),
        // A member's replay lag in time is in its newest decision record (older agents have none).
        askAll(ctx, cluster.members, 'decisions?limit=1', (_m, body) => recordsOf(body)[0]?.facts?.replayLagMs ?? null, () => null),
      ]);
      const answers = status.map((a, i) => ({ ...a, replayLagMs: lags[i] ?? null }));
      const ex = explainFailover(cluster, answers);
      const rows: Cell[][] = ex.verdicts.map((v) => [v.member, v.verdict, v.gate ?? '', v.detail ?? '']);
      if (ex.leader) rows.unshift([ex.leader, 'leader', '', 'assumed failed']);
      ctx.emit({ kind: 'table', columns: ['Member', 'Verdict', 'Gate', 'Detail'], rows, format, title, footer: [ex.summary] });
      return 0;
    }
    const raw = stringOpt(parsed, 'limit');
    const limit = raw === undefined ? DEFAULT_HISTORY_ROWS : Number(raw);
    if (!Number.isInteger(limit) || limit <= 0) throw new CliError(CliErrorCode.Usage, `Invalid value for '--limit': '${raw}' is not a positive integer.`);
    const unread: string[] = [];
    const byMember = await askAll(
      ctx,
      cluster.members,
      'decisions',
      (m, body) => ({ member: m.name, records: recordsOf(body) }),
      (m, why) => {
        unread.push(`${m.name}: ${why}`);
        return { member: m.name, records: [] as DecisionRecord[] };
      },
    );
    for (const u of unread) ctx.warn(`no decision records from ${u}`);
    const rows: Cell[][] = failoverHistory(byMember, limit).map(({ time, member, record }) => [
      time,
      member,
      record.code,
      record.reason,
      candidatesCell(record),
    ]);
    ctx.emit({ kind: 'table', columns: ['Time', 'Member', 'Code', 'Reason', 'Candidates'], rows, format, title });
    return 0;
  },
};

function candidatesCell(record: DecisionRecord): Cell {
  if (!record.candidates || record.candidates.length === 0) return '';
  return Object.fromEntries(record.candidates.map((v) => [v.member, verdictText(v)]));
}
