/**
 * Times the failover scenarios for pgha and Patroni on the same machine, the same PostgreSQL,
 * the same DCS and the same timing, and prints a Markdown table of medians (docs/benchmarks.md).
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/bench/src/bench.ts \
 *     [--agents pgha,patroni] [--reps 3] [--timing 30/10/10] [--dist] [--json out.json]
 *
 * Scenarios, each repeated `--reps` times on one cluster per agent, with a client inserting
 * continuously on whichever member is primary:
 * - switchover: POST /switchover to a replica; the longest write gap, and how long the call takes;
 * - postmaster kill on the primary (agent alive): time until writes succeed again;
 * - node crash (kill -9 of the primary's agent and postmaster): time from the kill, and from the
 *   leader key's expiry (seen through an etcd watch), until writes succeed on a new primary;
 * - idle agent memory: VmRSS of each agent process with its helper processes (not PostgreSQL), from /proc.
 */
import { writeFileSync } from 'node:fs';
import { startLocalCluster, type AgentKind, type ClusterTiming, type LocalCluster } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { crashPrimary, healthy, sleep, sql, watchLeaderDeletes } from './cluster-health.js';
import { WRITES_TABLE, startWriter, type Writer } from './writer.js';
import { agentRssMb } from './process-memory.js';

interface Options {
  agents: AgentKind[];
  reps: number;
  timing: ClusterTiming;
  dist: boolean;
  json: string | null;
}

function parseArgs(argv: string[]): Options {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const [ttl, loopWait, retryTimeout] = (value('--timing') ?? '30/10/10').split('/').map(Number);
  return {
    agents: (value('--agents') ?? 'pgha,patroni').split(',') as AgentKind[],
    reps: Number(value('--reps') ?? 3),
    timing: { ttl: ttl ?? 30, loopWait: loopWait ?? 10, retryTimeout: retryTimeout ?? 10 },
    dist: argv.includes('--dist'),
    json: value('--json') ?? null,
  };
}

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

interface AgentResult {
  agent: AgentKind;
  switchoverGapMs: number[];
  switchoverCallMs: number[];
  postmasterKillMs: number[];
  crashFromKillMs: number[];
  crashFromExpiryMs: number[];
  rssMb: number[];
  notes: string[];
}

async function switchover(cluster: LocalCluster, writer: Writer, r: AgentResult): Promise<void> {
  const primary = await healthy(cluster);
  const candidate = cluster.members.find((m) => m !== primary)!;
  await sleep(2000);
  const t0 = Date.now();
  const res = await fetch(`${primary.apiUrl}/switchover`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ leader: primary.name, candidate: candidate.name }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  const t1 = Date.now();
  if (res.status !== 200) r.notes.push(`switchover answered ${res.status} ${text}`);
  await healthy(cluster);
  await sleep(1000);
  r.switchoverCallMs.push(t1 - t0);
  r.switchoverGapMs.push(writer.maxGap(t0, Date.now()));
  log(`${r.agent} switchover ${primary.name} -> ${candidate.name}: call ${t1 - t0} ms, write gap ${writer.maxGap(t0, Date.now())} ms (${res.status} ${text})`);
}

async function postmasterKill(cluster: LocalCluster, writer: Writer, r: AgentResult): Promise<void> {
  const primary = await healthy(cluster);
  await sleep(2000);
  const t0 = Date.now();
  primary.killPostmaster();
  await waitFor('writes to resume', async () => writer.recoveredAfter(t0) !== undefined, 300_000, 50);
  const back = writer.recoveredAfter(t0)!;
  r.postmasterKillMs.push(back.at - t0);
  log(`${r.agent} postmaster kill on ${primary.name}: writes back after ${back.at - t0} ms on ${back.member}`);
  await healthy(cluster);
}

async function crash(cluster: LocalCluster, writer: Writer, watch: { deletes: number[] }, r: AgentResult): Promise<void> {
  const { primary, t0, back, expiry } = await crashPrimary(cluster, writer, watch);
  r.crashFromKillMs.push(back.at - t0);
  if (expiry !== undefined) r.crashFromExpiryMs.push(back.at - expiry);
  log(`${r.agent} crash of ${primary.name}: writes on ${back.member} ${back.at - t0} ms after the kill, ${expiry === undefined ? '?' : back.at - expiry} ms after the leader key expired`);
  primary.start();
  await healthy(cluster);
}

async function runAgent(agent: AgentKind, o: Options): Promise<AgentResult> {
  const r: AgentResult = { agent, switchoverGapMs: [], switchoverCallMs: [], postmasterKillMs: [], crashFromKillMs: [], crashFromExpiryMs: [], rssMb: [], notes: [] };
  log(`starting a 3-member ${agent} cluster on etcd, ttl/loop_wait/retry_timeout ${o.timing.ttl}/${o.timing.loopWait}/${o.timing.retryTimeout}`);
  const cluster = await startLocalCluster({ agent, dcs: 'etcd', scope: 'bench', timing: o.timing, useDist: o.dist });
  const watch = watchLeaderDeletes(cluster);
  let writer: Writer | null = null;
  try {
    const primary = await healthy(cluster);
    await sql(primary, `CREATE TABLE ${WRITES_TABLE} (id bigserial PRIMARY KEY, member text, at timestamptz DEFAULT clock_timestamp())`);
    // Idle: a few loops after the cluster settled.
    await sleep(Math.max(10_000, 2 * o.timing.loopWait * 1000));
    r.rssMb = cluster.members.map((m) => agentRssMb(m.agent?.child.pid)).filter((x): x is number => x !== null);
    log(`${agent} idle RSS (MB): ${r.rssMb.map((x) => x.toFixed(1)).join(', ')}`);
    writer = startWriter(cluster.members);
    for (let i = 0; i < o.reps; i++) await switchover(cluster, writer, r);
    for (let i = 0; i < o.reps; i++) await postmasterKill(cluster, writer, r);
    for (let i = 0; i < o.reps; i++) await crash(cluster, writer, watch, r);
  } catch (e) {
    r.notes.push(`stopped early: ${(e as Error).message}`);
    log(`${agent}: ${(e as Error).stack ?? String(e)}`);
  } finally {
    await writer?.stop();
    watch.stop();
    await cluster.stop();
  }
  return r;
}

const fmt = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? 'n/a' : (a / b).toFixed(2));

function table(results: AgentResult[], o: Options): string {
  const pgha = results.find((r) => r.agent === 'pgha');
  const patroni = results.find((r) => r.agent === 'patroni');
  const rows: [string, (r: AgentResult) => number[], (v: number | null) => string][] = [
    ['Switchover: longest write gap', (r) => r.switchoverGapMs, fmt],
    ['Switchover: POST /switchover returns after', (r) => r.switchoverCallMs, fmt],
    ['Postmaster killed on the primary: writes again after', (r) => r.postmasterKillMs, fmt],
    ['Node crash: writable primary after the kill', (r) => r.crashFromKillMs, fmt],
    ['Node crash: writable primary after the lock expired', (r) => r.crashFromExpiryMs, fmt],
    ['Agent RSS at idle', (r) => r.rssMb, (v) => (v === null ? 'n/a' : `${v.toFixed(1)} MB`)],
  ];
  const lines = [
    `ttl ${o.timing.ttl}, loop_wait ${o.timing.loopWait}, retry_timeout ${o.timing.retryTimeout}; etcd; medians of ${o.reps} runs (RSS: median of the 3 agents).`,
    '',
    '| scenario | pgha | Patroni | pgha / Patroni | pgha runs | Patroni runs |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, pick, f] of rows) {
    const a = pgha ? median(pick(pgha)) : null;
    const b = patroni ? median(pick(patroni)) : null;
    const runs = (r: AgentResult | undefined) => (r ? pick(r).map((x) => (f === fmt ? (x / 1000).toFixed(2) : x.toFixed(1))).join(', ') : '');
    lines.push(`| ${name} | ${f(a)} | ${f(b)} | ${ratio(a, b)} | ${runs(pgha)} | ${runs(patroni)} |`);
  }
  for (const r of results) for (const n of r.notes) lines.push('', `Note (${r.agent}): ${n}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const results: AgentResult[] = [];
  for (const agent of o.agents) results.push(await runAgent(agent, o));
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
  process.stdout.write(`${table(results, o)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
