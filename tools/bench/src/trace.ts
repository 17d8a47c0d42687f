/**
 * Where a pgha failover spends its time. Runs a 3-member pgha cluster on etcd with JSON logs and
 * a writer inserting every 10 ms, performs the scenario `--reps` times and prints, for each run,
 * every agent log line of the interesting window in ms relative to its start, next to the
 * writer's commits around the longest gap. A tool for reading, not a benchmark: its figures are
 * those of one run (tools/bench/src/bench.ts gives the medians).
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/bench/src/trace.ts \
 *     [--scenario switchover|crash] [--reps 2] [--timing 10/1/3] [--dist]
 */
import { startLocalCluster, type ClusterTiming, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { crashPrimary, healthy, sleep, sql, switchoverPrimary, watchLeaderDeletes } from './cluster-health.js';
import { ACKED_TABLE_DDL, startWriter, type Writer } from '@pgha/workload';

function arg(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const scenario = arg('--scenario') ?? 'switchover';
const reps = Number(arg('--reps') ?? 2);
const [ttl, loopWait, retryTimeout] = (arg('--timing') ?? '10/1/3').split('/').map(Number);
const timing: ClusterTiming = { ttl: ttl ?? 10, loopWait: loopWait ?? 1, retryTimeout: retryTimeout ?? 3 };
const jsonLogs = { log: { type: 'json', level: 'INFO' } };

type Line = [number, string];

/** The agents' JSON log lines with a time in [from, to]. */
function agentLines(members: MemberHandle[], from: number, to: number): Line[] {
  const lines: Line[] = [];
  for (const m of members) {
    for (const line of m.output().split('\n')) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const time = rec['time'];
      const at = typeof time === 'number' ? time : Date.parse(String(time));
      if (!(at >= from && at <= to)) continue;
      const { msg, time: _t, level: _l, pid: _p, hostname: _h, component: _c, ...rest } = rec;
      const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      lines.push([at, `${m.name} ${String(msg)}${extra}`.slice(0, 240)]);
    }
  }
  return lines;
}

/** The two commits around the longest gap among commits sent in [from, to]. */
function gapLines(writer: Writer, from: number, to: number): { gap: number; lines: Line[] } {
  const commits = writer.acked().filter((c) => c.sentAt >= from && c.sentAt <= to);
  let gap = 0;
  let at = 0;
  for (let k = 1; k < commits.length; k++) {
    const d = commits[k]!.at - commits[k - 1]!.at;
    if (d > gap) [gap, at] = [d, k];
  }
  const before = commits[at - 1];
  const after = commits[at];
  const lines: Line[] = [];
  if (before) lines.push([before.at, `WRITER last commit before the longest gap (${before.member})`]);
  if (after) lines.push([after.at, `WRITER first commit after it (${after.member}, sent at +${after.sentAt - from} ms)`]);
  return { gap, lines };
}

function print(title: string, t0: number, lines: Line[]): void {
  lines.sort((a, b) => a[0] - b[0]);
  process.stdout.write(`\n=== ${title}\n`);
  for (const [at, l] of lines) process.stdout.write(`${String(at - t0).padStart(6)} ${l}\n`);
}

async function switchover(cluster: LocalCluster, writer: Writer): Promise<void> {
  const { primary, candidate, t0, t1, status, text } = await switchoverPrimary(cluster);
  const { gap, lines } = gapLines(writer, t0 - 100, Date.now());
  lines.push([t1, `CALL returned ${status} ${text}`], ...agentLines(cluster.members, t0 - 50, t0 + Math.max(3000, t1 - t0 + 1500)));
  print(`switchover ${primary.name} -> ${candidate.name}: call ${t1 - t0} ms, write gap ${gap} ms`, t0, lines);
}

async function crash(cluster: LocalCluster, writer: Writer, watch: { deletes: number[] }): Promise<void> {
  const crashed = await crashPrimary(cluster, writer, watch);
  const { primary, back } = crashed;
  const expiry = crashed.expiry ?? crashed.t0;
  const others = cluster.members.filter((m) => m !== primary);
  const lines: Line[] = [
    [expiry, 'ETCD leader key deleted (etcdctl watch)'],
    [back.at, `WRITER first commit on ${back.member} (sent at +${back.sentAt - expiry} ms)`],
    ...agentLines(others, expiry - 200, back.at + 300),
  ];
  print(`crash of ${primary.name}: writable ${back.at - expiry} ms after the leader key expired`, expiry, lines);
  primary.start();
  await healthy(cluster);
}

async function main(): Promise<void> {
  const cluster = await startLocalCluster({
    agent: 'pgha',
    dcs: 'etcd',
    scope: 'trace',
    timing,
    useDist: process.argv.includes('--dist'),
    extra: { 0: jsonLogs, 1: jsonLogs, 2: jsonLogs },
  });
  const watch = watchLeaderDeletes(cluster);
  let writer: Writer | null = null;
  try {
    const first = await healthy(cluster);
    await sql(first, ACKED_TABLE_DDL);
    writer = startWriter(cluster.members, { timeoutMs: 1000 });
    await sleep(3000);
    for (let i = 0; i < reps; i++) {
      if (scenario === 'crash') await crash(cluster, writer, watch);
      else await switchover(cluster, writer);
      await sleep(1000);
    }
  } finally {
    await writer?.stop();
    watch.stop();
    await cluster.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`trace failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
