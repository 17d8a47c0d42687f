/**
 * The README's demo: a 3-member pgha cluster on loopback (etcd, three agents, three PostgreSQL 15
 * servers), its state printed as it changes, until Ctrl-C stops everything.
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/cluster/src/demo.ts [--zookeeper] [--members N]
 */
import { startLocalCluster, type LocalCluster } from './cluster.js';

const args = process.argv.slice(2);
const dcs = args.includes('--zookeeper') ? 'zookeeper' : 'etcd';
const membersArg = args.indexOf('--members');
const members = membersArg >= 0 ? Number(args[membersArg + 1]) : 3;

async function table(cluster: LocalCluster): Promise<string> {
  const rows = await Promise.all(
    cluster.members.map(async (m) => {
      const s = await m.status();
      const role = s ? String(s['role']).replace('master', 'primary') : '(no answer)';
      const xlog = (s?.['xlog'] ?? {}) as Record<string, unknown>;
      const lsn = xlog['location'] ?? xlog['replayed_location'] ?? '';
      return `| ${m.name.padEnd(6)} | 127.0.0.1:${String(m.pgPort).padEnd(5)} | ${role.padEnd(11)} | ${String(s?.['state'] ?? '').padEnd(16)} | ${String(s?.['timeline'] ?? '').padEnd(2)} | ${String(lsn).padEnd(10)} | ${m.apiUrl} |`;
    }),
  );
  const rule = `+${'-'.repeat(rows[0]!.length - 2)}+`;
  return [rule, `| Cluster: ${cluster.scope} (${cluster.dcs.kind} at ${cluster.dcs.endpoints.join(',')})`.padEnd(rows[0]!.length - 1) + '|', rule, ...rows, rule].join('\n');
}

async function main(): Promise<void> {
  console.log(`Starting ${dcs}, ${members} pgha agents and their PostgreSQL servers on 127.0.0.1 ...`);
  // A Ctrl-C while starting: exiting kills the servers started so far (see @pgha/test-servers).
  const early = () => process.exit(130);
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  const cluster = await startLocalCluster({ members, dcs, timing: { ttl: 30, loopWait: 10, retryTimeout: 10 } });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping the agents, PostgreSQL and the DCS ...');
    await cluster.stop();
    console.log('Stopped.');
    process.exit(0);
  };
  process.off('SIGINT', early);
  process.off('SIGTERM', early);
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  const primary = await cluster.waitForPrimary(180_000);
  console.log(`\n${primary.name} is the primary. Configs and data are under ${cluster.root}.`);
  console.log(`Try: curl -s ${primary.apiUrl}/patroni ; psql -h 127.0.0.1 -p ${primary.pgPort} -U postgres (password pgha-super)`);
  console.log(`     pnpm exec tsx --conditions=@pgha/source packages/cli/src/bin.ts -c ${primary.configPath} list`);
  console.log(`     (or Patroni's own: patronictl -c ${primary.configPath} list)`);
  console.log('Press Ctrl-C to stop.\n');
  let last = '';
  while (!stopping) {
    const now = await table(cluster);
    // Redrawn when a role or state changes, not on every WAL position move.
    const shape = now.replace(/\| \d* +\| http/g, '| http');
    if (shape !== last) {
      console.log(`${new Date().toISOString()}\n${now}\n`);
      last = shape;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
