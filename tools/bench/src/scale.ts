/**
 * The scale bench: N clusters of 3 members on one 3-server etcd or ZooKeeper (docs/benchmarks.md).
 *
 *   pnpm --filter @pgha/bench scale --clusters 100 --store etcd --seconds 60 [--workers K]
 *     [--shared-connections] [--start-rate 25] [--timing 30/10/10] [--json out.json] [--debug]
 *
 * Starts the 3-server DCS on loopback (tools/servers), runs the clusters on K worker processes
 * (default: one per core; `scale-run.ts`), prints the report as JSON and as a Markdown table row,
 * with the machine's load average beside it. `--shared-connections` (etcd): the members of a
 * worker share one client per endpoint instead of 3 of their own; the report says which ran.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { startEtcd, startZooKeeper } from '@pgha/test-servers';
import { flagValue } from './options.js';
import { reportRow, runScale, type ScaleStore } from './scale-run.js';

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

async function main(argv: string[]): Promise<void> {
  const clusters = Number(flagValue(argv, '--clusters') ?? 10);
  const store = (flagValue(argv, '--store') ?? 'etcd') as ScaleStore;
  if (store !== 'etcd' && store !== 'zookeeper') throw new Error(`--store: etcd or zookeeper, got ${String(store)}`);
  const seconds = Number(flagValue(argv, '--seconds') ?? 60);
  const [ttl, loopWait, retryTimeout] = (flagValue(argv, '--timing') ?? '30/10/10').split('/').map(Number);
  if (!Number.isInteger(clusters) || clusters < 1) throw new Error(`--clusters: a positive integer, got ${String(clusters)}`);
  const timing = { ttl: ttl ?? 30, loopWait: loopWait ?? 10, retryTimeout: retryTimeout ?? 10 };
  const workers = Number(flagValue(argv, '--workers') ?? availableParallelism());
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: a positive integer, got ${String(workers)}`);
  const startRate = Number(flagValue(argv, '--start-rate') ?? 25);
  if (!(startRate > 0)) throw new Error(`--start-rate: clusters a second, more than 0, got ${String(startRate)}`);
  const sharedConnections = argv.includes('--shared-connections');
  if (sharedConnections && store !== 'etcd') throw new Error('--shared-connections: etcd only');
  const loadBefore = loadavg();
  log(`starting a 3-server ${store}`);
  // ZooKeeper ticks at 1.5 s so it grants the 30 s sessions asked for (it caps them at 20 ticks).
  const servers =
    store === 'etcd'
      ? await startEtcd({ members: 3 }).then((e) => ({ endpoints: e.endpoints, pids: () => e.members.map((m) => m.process?.child.pid ?? 0), stop: () => e.stop() }))
      : await startZooKeeper({ members: 3, tickTime: Math.max(500, Math.ceil((timing.ttl * 1000) / 20)) }).then((z) => ({
          endpoints: z.connectString.split(','),
          pids: () => z.members.map((m) => m.process?.child.pid ?? 0),
          stop: () => z.stop(),
        }));
  try {
    // --debug: cluster 0's drivers and loops log to stderr (from its worker).
    const report = await runScale({
      clusters,
      store,
      endpoints: servers.endpoints,
      serverPids: servers.pids(),
      seconds,
      timing,
      workers,
      sharedConnections,
      startRate,
      log,
      debug: argv.includes('--debug'),
    });
    const machine = { loadAverageBefore: loadBefore.map((x) => Math.round(x * 100) / 100), loadAverageAfter: loadavg().map((x) => Math.round(x * 100) / 100) };
    const out = { ...report, machine };
    const json = flagValue(argv, '--json');
    if (json) writeFileSync(json, JSON.stringify(out, null, 2));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(`${reportRow(report)} load ${machine.loadAverageBefore[0]} → ${machine.loadAverageAfter[0]} |\n`);
  } finally {
    await servers.stop();
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`scale bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
