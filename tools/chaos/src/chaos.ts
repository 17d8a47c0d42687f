/**
 * pgha chaos: fault rounds against a local 3-member cluster, checking for split brain, lost
 * acknowledged commits and recovery after each. Exits 1 on a violation, 2 on bad arguments.
 *
 *   pnpm exec tsx --conditions=@pgha/source tools/chaos/src/chaos.ts --rounds 50 --dcs etcd \
 *     --mode on --timing 10/1/3 --seed 7 [--agent pgha|patroni] [--faults a,b,...] [--order cycle|random]
 *   ... chaos.ts --attach cluster.yml --rounds 20     (an existing cluster; see docs/chaos.md)
 *
 * See docs/chaos.md.
 */
import { parseArgs } from 'node:util';
import type { AgentKind, DcsKind } from '@pgha/local-cluster';
import { AttachConfigError, loadAttachConfig } from './attach.js';
import { DEFAULT_FAULTS, FAULTS, fault, isFaultName, type FaultName } from './faults.js';
import { runChaos, type ChaosOptions } from './harness.js';
import { formatSummary } from './summary.js';
import { MODES, type ReplicationMode } from './target.js';

class UsageError extends Error {}

const USAGE = `usage: chaos.ts [--rounds N] [--dcs etcd|zookeeper] [--dcs-servers 1|3] [--mode async|on|quorum|strict] [--timing ttl/loop_wait/retry_timeout]
                [--seed N] [--order random|cycle] [--faults ${DEFAULT_FAULTS.join(',')} (default), or any of the list below]
                [--agent pgha|patroni] [--mixed] [--watchdog on|off] [--recovery-timeout S] [--echo] [--attach file.yml]
                [--network loopback|namespaces]
  --sync on|off is --mode on|async
  --mixed: pg1 runs the other agent (Patroni 3.0.2 beside pgha, or pgha beside Patroni)
faults:
${FAULTS.map((f) => `  ${f.padEnd(19)}${fault(f).description}`).join('\n')}`;

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag}: expected one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${flag}: expected a whole number, got "${value}"`);
  return n;
}

export function parseOptions(argv: string[]): Omit<ChaosOptions, 'log'> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '10' },
      dcs: { type: 'string', default: 'etcd' },
      'dcs-servers': { type: 'string', default: '1' },
      mode: { type: 'string' },
      sync: { type: 'string' },
      attach: { type: 'string' },
      timing: { type: 'string', default: '10/1/3' },
      seed: { type: 'string', default: '1' },
      order: { type: 'string', default: 'random' },
      faults: { type: 'string', default: DEFAULT_FAULTS.join(',') },
      agent: { type: 'string', default: 'pgha' },
      watchdog: { type: 'string', default: 'on' },
      'recovery-timeout': { type: 'string', default: '180' },
      echo: { type: 'boolean', default: false },
      network: { type: 'string', default: 'loopback' },
      mixed: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) throw new UsageError('');
  const timing = values.timing.split('/').map((v) => positiveInt('timing', v));
  if (timing.length !== 3 || timing.some((t) => t === 0)) throw new UsageError(`--timing: expected ttl/loop_wait/retry_timeout in seconds, e.g. 10/1/3, got "${values.timing}"`);
  const faults = values.faults.split(',').map((f) => f.trim()).filter(Boolean);
  const bad = faults.filter((f) => !isFaultName(f));
  if (bad.length > 0 || faults.length === 0) throw new UsageError(`--faults: unknown fault(s) ${bad.join(', ') || '(none given)'}; known: ${FAULTS.join(', ')}`);
  if (values.mode !== undefined && values.sync !== undefined) throw new UsageError('--sync and --mode: give one (--sync on is --mode on)');
  const mode: ReplicationMode =
    values.sync !== undefined ? (oneOf('sync', values.sync, ['on', 'off']) === 'on' ? 'on' : 'async') : oneOf('mode', values.mode ?? 'async', MODES);
  const agent = oneOf<AgentKind>('agent', values.agent, ['pgha', 'patroni']);
  if ((agent === 'patroni' || values.mixed) && mode === 'quorum') throw new UsageError('--mode quorum: Patroni 3.0.2 has no quorum commit (it came in 4.0)');
  if (values.mixed && values.attach !== undefined) throw new UsageError('--mixed and --attach: an attached cluster runs whatever agents it has');
  return {
    rounds: positiveInt('rounds', values.rounds),
    dcs: oneOf<DcsKind>('dcs', values.dcs, ['etcd', 'zookeeper']),
    dcsServers: Number(oneOf('dcs-servers', values['dcs-servers'], ['1', '3'])) as 1 | 3,
    mode,
    timing: { ttl: timing[0]!, loopWait: timing[1]!, retryTimeout: timing[2]! },
    seed: positiveInt('seed', values.seed),
    order: oneOf('order', values.order, ['random', 'cycle']),
    faults: faults as FaultName[],
    agent,
    mixed: values.mixed,
    watchdog: oneOf('watchdog', values.watchdog, ['on', 'off']) === 'on',
    echo: values.echo,
    recoveryTimeoutMs: positiveInt('recovery-timeout', values['recovery-timeout']) * 1000,
    network: oneOf<'loopback' | 'namespaces'>('network', values.network, ['loopback', 'namespaces']),
    ...(values.attach !== undefined ? { attach: loadAttachConfig(values.attach) } : {}),
  };
}

async function main(): Promise<number> {
  let options: Omit<ChaosOptions, 'log'>;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (e instanceof AttachConfigError) {
      console.error(e.message);
      return 2;
    }
    if (!(e instanceof UsageError) && !(e instanceof TypeError)) throw e;
    if (e.message) console.error(e.message);
    console.error(USAGE);
    return e.message ? 2 : 0;
  }
  const t = options.timing;
  console.log(
    options.attach
      ? `chaos: ${options.rounds} rounds against ${options.attach.source} (timing and mode from the cluster's configuration), ${options.order} faults (seed ${options.seed})`
      : `chaos: ${options.rounds} rounds, ${options.agent}${options.mixed ? ` (pg1 ${options.agent === 'pgha' ? 'patroni' : 'pgha'})` : ''} on ${options.dcs}${options.dcsServers === 3 ? ' (3 servers)' : ''}, mode ${options.mode}, ` +
          `${options.network === 'namespaces' ? 'members as hosts (network namespaces), ' : ''}ttl/loop_wait/retry_timeout ${t.ttl}/${t.loopWait}/${t.retryTimeout}, ${options.order} faults (seed ${options.seed}), watchdog ${options.watchdog && options.agent === 'pgha' ? 'on' : 'off'}`,
  );
  const result = await runChaos({ ...options, log: (line) => console.log(line) });
  console.log(`\n${formatSummary(result)}\n`);
  console.log(`acknowledged commits: ${result.ackedCommits}`);
  if (result.violations.length > 0) {
    console.log(`FAILED: ${result.violations.length} violation(s)`);
    for (const v of result.violations) console.log(`  ${v}`);
    return 1;
  }
  const loss = result.mode === 'async' ? `, loss per failover within maximum_lag_on_failover (${result.maximumLagOnFailover} bytes)` : ', no acknowledged commit lost';
  console.log(`PASSED (mode ${result.mode}): no split-brain window${loss}, every round recovered`);
  return 0;
}

// The run is over when its rounds are: exit, rather than wait for a handle something left open
// (a run of 2026-12-03 printed PASSED and then did not exit; the leak is not found yet).
process.exit(await main());
