/**
 * Starts a one-member pgha cluster from the built agent and prints the agent's memory as /proc
 * reports it (VmRSS and its anonymous / file-backed split), every 5 s, for memory work.
 *
 *   pnpm build && pnpm exec tsx --conditions=@pgha/source tools/bench/src/rss-probe.ts [--dcs zookeeper] [--seconds 30]
 */
import { readFileSync } from 'node:fs';
import { startLocalCluster } from '@pgha/local-cluster';
import { agentHelpers, agentRssMb, residentByMapping } from './process-memory.js';

const args = process.argv.slice(2);
const dcs = args.includes('--dcs') && args[args.indexOf('--dcs') + 1] === 'zookeeper' ? 'zookeeper' : 'etcd';
const seconds = args.includes('--seconds') ? Number(args[args.indexOf('--seconds') + 1]) : 30;

function memory(pid: number): string {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(/^(\w+):\s+(\d+)/m.exec(status.split('\n').find((l) => l.startsWith(`${key}:`)) ?? '')?.[2] ?? NaN);
  const mib = (key: string) => (kb(key) / 1024).toFixed(1);
  return `VmRSS ${mib('VmRSS')} MiB (anon ${mib('RssAnon')}, file ${mib('RssFile')}, shmem ${mib('RssShmem')}), VmHWM ${mib('VmHWM')}`;
}

/** Resident memory per mapping (summed by file name, or by kind for anonymous ones), largest first. */
function topMappings(pid: number): string {
  return [...residentByMapping(pid)].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${(v / 1024).toFixed(1).padStart(6)} MiB  ${k}`).join('\n');
}

const cluster = await startLocalCluster({ members: 1, dcs, useDist: true, timing: { ttl: 30, loopWait: 10, retryTimeout: 10 } });
try {
  await cluster.waitForPrimary(120_000);
  const pid = cluster.members[0]!.agent!.child.pid!;
  for (let t = 0; t <= seconds; t += 5) {
    const helpers = agentHelpers(pid);
    console.log(`t=${t}s ${memory(pid)}; with ${helpers.length} helper process(es): ${agentRssMb(pid)?.toFixed(1)} MiB`);
    await new Promise((r) => setTimeout(r, 5000));
  }
  if (args.includes('--maps')) console.log(topMappings(pid));
} finally {
  await cluster.stop();
}
