/**
 * Health-check flood: does the HA cycle keep its deadlines while the REST API is hammered?
 * One pgha primary on etcd (ttl 10, loop_wait 1, Basic auth on the API). For `--duration`
 * seconds `wrk` floods the health endpoints, `--slow` clients hold management requests open by
 * sending their bodies one byte a second, and an authorised operator sends a small
 * `PATCH /config` every second from another loopback address. Reported, for a quiet phase and
 * the flood phase: the longest gap between two lock renewals (loop_wait is 1 s; the fence fires
 * at ttl minus the safety margin), whether PostgreSQL was fenced, the operator's calls answered,
 * and the flood's requests/s.
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/bench/src/flood.ts [--duration 20] \
 *     [--connections 1000] [--threads 2] [--slow 64]
 *
 * Needs `wrk` (apt-get install wrk). The numbers are printed as a Markdown table.
 */
import type { Socket } from 'node:net';
import { startLocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { operatorPatch, runWrk, slowBodyClient } from '@pgha/test-servers';
import { sleep } from '@pgha/primitives';

interface Options {
  duration: number;
  connections: number;
  threads: number;
  slow: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { duration: 20, connections: 1000, threads: 2, slow: 64 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    switch (argv[i]) {
      case '--duration':
        o.duration = value;
        break;
      case '--connections':
        o.connections = value;
        break;
      case '--threads':
        o.threads = value;
        break;
      case '--slow':
        o.slow = value;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
    i++;
  }
  return o;
}

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const USER = { username: 'ops', password: 'flood-bench' };

/** Times (ms since the epoch) of the member's cycles that renewed the lock, from its log. */
function renewals(member: MemberHandle): number[] {
  const times: number[] = [];
  for (const line of member.output().split('\n')) {
    if (!line.includes('event=ha_cycle') || !line.includes('"renew_lock"')) continue;
    const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})/.exec(line);
    if (m) times.push(Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`));
  }
  return times;
}

function longestGap(times: number[], from: number, to: number): number {
  const inside = times.filter((t) => t >= from && t <= to);
  let gap = 0;
  for (let i = 1; i < inside.length; i++) gap = Math.max(gap, inside[i]! - inside[i - 1]!);
  return gap / 1000;
}

interface Phase {
  name: string;
  gap: number;
  fenced: boolean;
  calls: number;
  answered: number;
  /** The slowest operator call, seconds. */
  slowestCall: number;
  rps: number | null;
}

async function phase(name: string, primary: MemberHandle, port: number, seconds: number, flood: (() => Promise<number>) | null): Promise<Phase> {
  const started = Date.now();
  const load = flood?.();
  const statuses: number[] = [];
  const latencies: number[] = [];
  while (Date.now() - started < seconds * 1000) {
    const sent = Date.now();
    statuses.push((await operatorPatch('127.0.0.1', port, '127.0.0.2', USER)).status);
    latencies.push((Date.now() - sent) / 1000);
    await sleep(1000);
  }
  const rps = load ? await load : null;
  const ended = Date.now();
  const fenced = primary.output().includes('before the safety deadline');
  return { name, gap: longestGap(renewals(primary), started, ended), fenced, calls: statuses.length, answered: statuses.filter((s) => s === 200).length, slowestCall: Math.max(...latencies), rps };
}

const o = parseArgs(process.argv.slice(2));
const cluster = await startLocalCluster({
  members: 1,
  dcs: 'etcd',
  scope: 'flood',
  timing: TIMING,
  restapi: { authentication: USER },
  echo: process.env['PGHA_BENCH_ECHO'] === '1',
});
try {
  const primary = await cluster.waitForPrimary(180_000);
  const port = Number(new URL(primary.apiUrl).port);
  const quiet = await phase('quiet', primary, port, o.duration, null);
  const slow: Socket[] = [];
  const flooded = await phase('flood', primary, port, o.duration, async () => {
    for (let i = 0; i < o.slow; i++) slow.push(slowBodyClient('127.0.0.1', port, USER));
    return runWrk(`${primary.apiUrl}/primary`, { threads: o.threads, connections: o.connections, seconds: o.duration });
  });
  for (const s of slow) s.destroy();
  const f = (n: number | null, d = 2) => (n === null ? '–' : Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  console.log(`Health-check flood (wrk -t${o.threads} -c${o.connections} GET /primary, ${o.slow} slow-body clients, ${o.duration} s per phase; one primary, etcd, ttl ${TIMING.ttl}, loop_wait ${TIMING.loopWait}; ${new Date().toISOString().slice(0, 10)})\n`);
  console.log('| phase | longest gap between renewals (s) | PostgreSQL fenced | operator PATCH /config answered | slowest operator call (s) | flood requests/s |');
  console.log('|---|---:|---|---:|---:|---:|');
  for (const p of [quiet, flooded]) console.log(`| ${p.name} | ${f(p.gap)} | ${p.fenced ? 'yes' : 'no'} | ${p.answered} / ${p.calls} | ${f(p.slowestCall)} | ${f(p.rps, 0)} |`);
} finally {
  await cluster.stop();
}
