/**
 * REST API throughput: `wrk` against `GET /primary` of a pgha agent and of a Patroni agent, one
 * after the other in the same run, on a one-member cluster each (same machine, etcd, PostgreSQL).
 * Reports requests/s, latency percentiles, the agent's RSS (peak during the load and after) and
 * its CPU use during the load.
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/bench/api.ts [--agents pgha,patroni] \
 *     [--duration 15] [--threads 2] [--connections 16] [--dist]
 *
 * Needs `wrk` (apt-get install wrk). The numbers are printed as a Markdown table.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startLocalCluster, type AgentKind } from '@pgha/local-cluster';

interface Options {
  agents: AgentKind[];
  duration: number;
  threads: number;
  connections: number;
  dist: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { agents: ['pgha', 'patroni'], duration: 15, threads: 2, connections: 16, dist: false };
  for (let i = 0; i < argv.length; i++) {
    const next = () => argv[++i] ?? '';
    switch (argv[i]) {
      case '--agents':
        o.agents = next().split(',') as AgentKind[];
        break;
      case '--duration':
        o.duration = Number(next());
        break;
      case '--threads':
        o.threads = Number(next());
        break;
      case '--connections':
        o.connections = Number(next());
        break;
      case '--dist':
        o.dist = true;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

/** CPU time (user + system) of a process so far, seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** VmRSS and VmHWM (peak) of a process, MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: timeoutMs }, (err, stdout, stderr) => (err ? reject(new Error(`${command}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

/** wrk's latency figure (`1.23ms`, `45.6us`, `1.2s`) in milliseconds. */
function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

interface Result {
  agent: AgentKind;
  rps: number;
  p50: number;
  p99: number;
  errors: string;
  rssBefore: number;
  rssDuring: number;
  rssAfter: number;
  /** The agent's CPU use during the measured load, % of one core. */
  cpuPct: number;
}

async function measure(agent: AgentKind, o: Options): Promise<Result> {
  const cluster = await startLocalCluster({ members: 1, agent, dcs: 'etcd', scope: `apibench-${agent}`, timing: { ttl: 30, loopWait: 10, retryTimeout: 10 }, useDist: o.dist });
  try {
    const primary = await cluster.waitForPrimary(180_000);
    const pid = primary.agent?.child.pid;
    if (!pid) throw new Error(`${agent}: no agent process`);
    const url = `${primary.apiUrl}/primary`;
    // Warm-up (JIT, connection pools), then the measured run.
    await run('wrk', ['-t', String(o.threads), '-c', String(o.connections), '-d', '3s', url], 60_000);
    const before = memory(pid);
    const cpuBefore = cpuSeconds(pid);
    const loadStarted = Date.now();
    let during = before.rss;
    const sampler = setInterval(() => {
      try {
        during = Math.max(during, memory(pid).rss);
      } catch {
        // The process may be gone; the run reports what it saw.
      }
    }, 200);
    const out = await run('wrk', ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.duration}s`, '--latency', url], (o.duration + 60) * 1000);
    clearInterval(sampler);
    const after = memory(pid);
    const cpuPct = ((cpuSeconds(pid) - cpuBefore) / ((Date.now() - loadStarted) / 1000)) * 100;
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
    const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
    const errors = /Socket errors:.*$/m.exec(out)?.[0] ?? (/Non-2xx or 3xx responses: \d+/.exec(out)?.[0] ?? 'none');
    process.stderr.write(`--- ${agent}\n${out}\n`);
    return { agent, rps, p50, p99, errors, rssBefore: before.rss, rssDuring: Math.max(during, after.rss), rssAfter: after.rss, cpuPct };
  } finally {
    await cluster.stop();
  }
}

const options = parseArgs(process.argv.slice(2));
const results: Result[] = [];
for (const agent of options.agents) results.push(await measure(agent, options));
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
console.log(`wrk -t${options.threads} -c${options.connections} -d${options.duration}s --latency GET /primary (one-member cluster, etcd, ${new Date().toISOString().slice(0, 10)})\n`);
console.log('| agent | requests/s | p50 latency (ms) | p99 latency (ms) | agent RSS before / peak during / after (MiB) | agent CPU under load (% of one core) | errors |');
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const r of results) console.log(`| ${r.agent} | ${f(r.rps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.rssBefore)} / ${f(r.rssDuring)} / ${f(r.rssAfter)} | ${f(r.cpuPct)} | ${r.errors} |`);
