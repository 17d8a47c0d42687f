/**
 * `pghactl dashboard`: a live web page of one cluster (members, lag over time, the leader lock
 * and its time to live, pause and scheduled actions, timeline history, the last decisions with
 * their candidate verdicts, alerts), served until SIGINT or SIGTERM. A process of its own, so
 * the agents stay lean; it reads the DCS and the members' APIs with this CLI's settings and
 * never writes or calls a mutating endpoint.
 */
import { clusterIsEmpty } from '../cluster-view.js';
import { CliError, CliErrorCode } from '../errors.js';
import { startDashboard } from '../dashboard/server.js';
import { GROUP_OPTION, positionals, stringOpt, type CommandDefinition } from './command.js';

const DEFAULT_LISTEN = '127.0.0.1:8080';

/** `HOST:PORT` or `[IPv6]:PORT`; port 0 picks a free one. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CliError(CliErrorCode.Usage, `Invalid value for '--listen': '${text}' is not HOST:PORT (for example 127.0.0.1:8080).`);
  return { host: (m[1] ?? m[2])!, port };
}

function intervalOf(raw: string | undefined): number {
  if (raw === undefined) return 1000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) throw new CliError(CliErrorCode.Usage, `Invalid value for '--interval': '${raw}' is not a number of seconds between 0.2 and 3600.`);
  return n * 1000;
}

export const dashboardCommand: CommandDefinition = {
  name: 'dashboard',
  help: 'Serve a live, read-only web page of the cluster: members, lag, leader lock, decisions, alerts',
  args: '[CLUSTER_NAME]',
  options: [
    GROUP_OPTION,
    { key: 'listen', flags: ['--listen'], kind: 'value', help: `Address to serve on, HOST:PORT (default ${DEFAULT_LISTEN}; port 0 picks a free one)` },
    { key: 'interval', flags: ['--interval'], kind: 'value', help: 'Seconds between two reads of the cluster (default 1)' },
  ],
  async run(ctx, parsed) {
    const scope = ctx.clusterName(positionals(parsed, 1, 'dashboard')[0]);
    const { host, port } = parseListen(stringOpt(parsed, 'listen') ?? DEFAULT_LISTEN);
    const intervalMs = intervalOf(stringOpt(parsed, 'interval'));
    // A misspelt scope would show an empty page forever: say so, but serve (the cluster may be coming).
    const first = await ctx.loadCluster(scope).catch(() => null);
    if (first && clusterIsEmpty(first)) ctx.warn(`the DCS has nothing under ${ctx.config.namespace.replace(/\/+$/, '')}/${scope}/ yet`);
    const dashboard = await startDashboard({
      scope,
      host,
      port,
      intervalMs,
      loadCluster: () => ctx.loadCluster(scope),
      api: ctx.api,
      now: () => ctx.now().getTime(),
      onError: (e) => ctx.warn(`dashboard sample failed: ${e instanceof Error ? e.message : String(e)}`),
    }).catch((e: unknown) => {
      throw new CliError(CliErrorCode.Config, `cannot serve the dashboard on ${host}:${port}: ${(e as Error).message}`, { cause: e });
    });
    ctx.emit({ kind: 'text', text: `Dashboard of cluster ${scope} at ${dashboard.url} (read-only; Ctrl-C to stop)` });
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await dashboard.close();
    return 0;
  },
};
