/**
 * Times the failover scenarios for pgha and Patroni on the same machine, the same PostgreSQL,
 * the same DCS and the same timing, and prints a Markdown table of medians (docs/benchmarks.md).
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/bench/src/bench.ts \
 *     [--agents pgha,patroni] [--dcs etcd|zookeeper] [--reps 3] [--timing 30/10/10] [--dist]
 *     [--scenarios switchover,postmaster,crash,freeze] [--watchdog] [--json out.json]
 *
 * Scenarios, each repeated `--reps` times on one cluster per agent, with a client inserting
 * continuously on whichever member is primary:
 * - switchover: POST /switchover to a replica; the longest write gap, and how long the call takes;
 * - postmaster kill on the primary (agent alive): time until writes succeed again;
 * - node crash (kill -9 of the primary's agent and postmaster): time from the kill, and from the
 *   leader key's expiry (seen through an etcd watch), until writes succeed on a new primary;
 * - old primary rejoin: after the crash, time from restarting its agent until it streams again;
 * - primary agent frozen (SIGSTOP, thawed once another member is primary): time until another
 *   member is primary, and whether the old primary still took a write then (a split brain:
 *   only a watchdog can stop it; `--watchdog` gives pgha its testing device, Patroni has none here);
 * - idle agent memory: VmRSS of each agent process with its helper processes (not PostgreSQL), from /proc;
 * - idle agent CPU (% of one core, agent and helpers) and DCS requests per agent per minute, over 30 s.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { startLocalCluster, type AgentKind, type LocalCluster } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { crashPrimary, dcsRequestCount, healthy, sleep, sql, switchoverPrimary, watchLeaderDeletes } from './cluster-health.js';
import { ACKED_TABLE_DDL, PROBE_TABLE_DDL, acceptsWrites, longestGap, recoveredAfter, startWriter, type Writer } from '@pgha/workload';
import { agentHelpers, agentRssMb } from './process-memory.js';
import { flagValue, median, parseCommonArgs, type CommonOptions } from './options.js';

const SCENARIOS = ['switchover', 'postmaster', 'crash', 'freeze'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Options extends CommonOptions {
  scenarios: Scenario[];
  watchdog: boolean;
}

function parseArgs(argv: string[]): Options {
  return {
    ...parseCommonArgs(argv, { ttl: 30, loopWait: 10, retryTimeout: 10 }),
    scenarios: (flagValue(argv, '--scenarios') ?? 'switchover,postmaster,crash').split(',').map((x) => {
      if (!(SCENARIOS as readonly string[]).includes(x)) throw new Error(`--scenarios: unknown scenario ${x} (known: ${SCENARIOS.join(', ')})`);
      return x as Scenario;
    }),
    watchdog: argv.includes('--watchdog'),
  };
}

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

interface AgentResult {
  agent: AgentKind;
  switchoverGapMs: number[];
  switchoverCallMs: number[];
  postmasterKillMs: number[];
  crashFromKillMs: number[];
  crashFromExpiryMs: number[];
  rejoinMs: number[];
  freezeMs: number[];
  /** Per frozen-agent run: 1 when the old primary still took a write after another was promoted. */
  freezeSplitBrain: number[];
  rssMb: number[];
  cpuIdlePct: number[];
  dcsRequestsPerMin: number[];
  notes: string[];
}

async function switchover(cluster: LocalCluster, writer: Writer, r: AgentResult): Promise<void> {
  const { primary, candidate, t0, t1, status, text } = await switchoverPrimary(cluster);
  if (status !== 200) r.notes.push(`switchover answered ${status} ${text}`);
  await sleep(1000);
  const gap = longestGap(writer.acked(), t0, Date.now());
  r.switchoverCallMs.push(t1 - t0);
  r.switchoverGapMs.push(gap);
  log(`${r.agent} switchover ${primary.name} -> ${candidate.name}: call ${t1 - t0} ms, write gap ${gap} ms (${status} ${text})`);
}

async function postmasterKill(cluster: LocalCluster, writer: Writer, r: AgentResult): Promise<void> {
  const primary = await healthy(cluster);
  await sleep(2000);
  const t0 = Date.now();
  primary.killPostmaster();
  await waitFor('writes to resume', async () => recoveredAfter(writer, t0) !== undefined, 300_000, 50);
  const back = recoveredAfter(writer, t0)!;
  r.postmasterKillMs.push(back.at - t0);
  log(`${r.agent} postmaster kill on ${primary.name}: writes back after ${back.at - t0} ms on ${back.member}`);
  await healthy(cluster);
}

async function crash(cluster: LocalCluster, writer: Writer, watch: { deletes: number[] }, r: AgentResult): Promise<void> {
  const { primary, t0, back, expiry } = await crashPrimary(cluster, writer, watch);
  r.crashFromKillMs.push(back.at - t0);
  if (expiry !== undefined) r.crashFromExpiryMs.push(back.at - expiry);
  log(`${r.agent} crash of ${primary.name}: writes on ${back.member} ${back.at - t0} ms after the kill, ${expiry === undefined ? '?' : back.at - expiry} ms after the leader key expired`);
  const restarted = Date.now();
  primary.start();
  await healthy(cluster);
  r.rejoinMs.push(Date.now() - restarted);
  log(`${r.agent} ${primary.name} rejoined ${Date.now() - restarted} ms after its agent was restarted`);
}

async function freeze(cluster: LocalCluster, r: AgentResult): Promise<void> {
  const primary = await healthy(cluster);
  await sleep(2000);
  const t0 = Date.now();
  primary.freezeAgent();
  try {
    // A frozen agent's PostgreSQL may go on taking writes, so the writer may never fail over:
    // the new primary is seen through its API instead.
    const promoted = await cluster.waitForPrimary(300_000, primary.name);
    const t1 = Date.now();
    r.freezeMs.push(t1 - t0);
    const oldWritable = await acceptsWrites(primary);
    r.freezeSplitBrain.push(oldWritable ? 1 : 0);
    log(`${r.agent} agent of ${primary.name} frozen: ${promoted.name} primary after ${t1 - t0} ms; old primary ${oldWritable ? 'STILL TOOK A WRITE' : 'took no write'}`);
  } finally {
    primary.thawAgent();
  }
  await healthy(cluster);
}

/** CPU ticks (user + system) of a process, or 0 when it is gone. */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Idle CPU (% of one core, per agent with its helpers) and DCS requests per agent per minute. */
async function idleCost(cluster: LocalCluster, r: AgentResult, windowMs = 30_000): Promise<void> {
  const pids = cluster.members.map((m) => m.agent?.child.pid).filter((p): p is number => p !== undefined);
  const ticks = () => pids.map((p) => [p, ...agentHelpers(p)].reduce((sum, q) => sum + cpuTicks(q), 0));
  const before = ticks();
  const requestsBefore = await dcsRequestCount(cluster);
  await sleep(windowMs);
  const after = ticks();
  const requestsAfter = await dcsRequestCount(cluster);
  // Linux counts CPU time in clock ticks of 1/100 s.
  r.cpuIdlePct = after.map((t, i) => ((t - before[i]!) / 100 / (windowMs / 1000)) * 100);
  if (requestsBefore !== null && requestsAfter !== null) r.dcsRequestsPerMin = [((requestsAfter - requestsBefore) / pids.length) * (60_000 / windowMs)];
  log(`${r.agent} idle CPU %: ${r.cpuIdlePct.map((x) => x.toFixed(2)).join(', ')}; DCS requests per agent per minute: ${r.dcsRequestsPerMin.map((x) => x.toFixed(0)).join('') || 'n/a'}`);
}

async function runAgent(agent: AgentKind, o: Options): Promise<AgentResult> {
  const r: AgentResult = {
    agent, switchoverGapMs: [], switchoverCallMs: [], postmasterKillMs: [], crashFromKillMs: [], crashFromExpiryMs: [],
    rejoinMs: [], freezeMs: [], freezeSplitBrain: [], rssMb: [], cpuIdlePct: [], dcsRequestsPerMin: [], notes: [],
  };
  log(`starting a 3-member ${agent} cluster on ${o.dcs}, ttl/loop_wait/retry_timeout ${o.timing.ttl}/${o.timing.loopWait}/${o.timing.retryTimeout}`);
  const watchdog = o.watchdog && agent === 'pgha';
  const cluster = await startLocalCluster({ agent, dcs: o.dcs, scope: 'bench', timing: o.timing, useDist: o.dist, watchdog });
  // Started after the idle window: on ZooKeeper it polls the server (`dump`, every 20 ms), and the
  // server counts those four-letter words as received packets, which would swamp the agents' own.
  let watch: { deletes: number[]; stop(): void } | null = null;
  let writer: Writer | null = null;
  try {
    const primary = await healthy(cluster);
    await sql(primary, ACKED_TABLE_DDL);
    await sql(primary, PROBE_TABLE_DDL);
    // Idle: a few loops after the cluster settled.
    await sleep(Math.max(10_000, 2 * o.timing.loopWait * 1000));
    r.rssMb = cluster.members.map((m) => agentRssMb(m.agent?.child.pid)).filter((x): x is number => x !== null);
    log(`${agent} idle RSS (MB): ${r.rssMb.map((x) => x.toFixed(1)).join(', ')}`);
    await idleCost(cluster, r);
    const leaderDeletes = watchLeaderDeletes(cluster);
    watch = leaderDeletes;
    // A 1 s deadline: a frozen member then holds the writer's search for the new primary at most 1 s.
    writer = startWriter(cluster.members, { timeoutMs: 1000 });
    const has = (x: Scenario) => o.scenarios.includes(x);
    for (let i = 0; has('switchover') && i < o.reps; i++) await switchover(cluster, writer, r);
    for (let i = 0; has('postmaster') && i < o.reps; i++) await postmasterKill(cluster, writer, r);
    for (let i = 0; has('crash') && i < o.reps; i++) await crash(cluster, writer, leaderDeletes, r);
    for (let i = 0; has('freeze') && i < o.reps; i++) await freeze(cluster, r);
  } catch (e) {
    r.notes.push(`stopped early: ${(e as Error).message}`);
    log(`${agent}: ${(e as Error).stack ?? String(e)}`);
  } finally {
    await writer?.stop();
    watch?.stop();
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
    ['Old primary streams again after its agent restarts', (r) => r.rejoinMs, fmt],
    ['Primary agent frozen: another member primary after', (r) => r.freezeMs, fmt],
    ['Primary agent frozen: runs where the old primary still took a write', (r) => (r.freezeSplitBrain.length ? [r.freezeSplitBrain.reduce((a, b) => a + b, 0)] : []), (v) => (v === null ? 'n/a' : String(v))],
    ['Agent RSS at idle (with helper processes)', (r) => r.rssMb, (v) => (v === null ? 'n/a' : `${v.toFixed(1)} MB`)],
    ['Agent CPU at idle (% of one core)', (r) => r.cpuIdlePct, (v) => (v === null ? 'n/a' : `${v.toFixed(2)} %`)],
    ['DCS requests per agent per minute, idle', (r) => r.dcsRequestsPerMin, (v) => (v === null ? 'n/a' : v.toFixed(0))],
  ];
  const lines = [
    `ttl ${o.timing.ttl}, loop_wait ${o.timing.loopWait}, retry_timeout ${o.timing.retryTimeout}; ${o.dcs}; medians of ${o.reps} runs (RSS and CPU: median of the 3 agents)${o.watchdog ? '; pgha with its testing watchdog' : ''}.`,
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
