/** The command line of chaos.ts: options and usage (apart from it so tests can parse without running). */
import { parseArgs } from 'node:util';
import type { AgentKind, DcsKind } from '@pgha/local-cluster';
import { loadAttachConfig } from './attach.js';
import { NETWORK_FAULTS } from './network-faults.js';
import { DEFAULT_FAULTS, FAULTS, fault, isFaultName, type FaultName } from './faults.js';
import type { ChaosOptions } from './harness.js';
import { MODES, type ReplicationMode } from './target.js';

export class UsageError extends Error {}

export const USAGE = `usage: chaos.ts [--rounds N | --minutes N [--rounds cap]] [--dcs etcd|zookeeper] [--dcs-servers 1|3] [--mode async|on|quorum|strict] [--timing ttl/loop_wait/retry_timeout]
                [--seed N] [--order random|cycle] [--faults ${DEFAULT_FAULTS.join(',')} (default), or any of the list below]
                [--agent pgha|patroni] [--mixed] [--watchdog on|off] [--recovery-timeout S] [--echo] [--attach file.yml]
                [--network loopback|namespaces]
  --sync on|off is --mode on|async
  --minutes N: a soak; rounds run (in --order through --faults) until N minutes are spent, the round
    under way finishing; --rounds, if given too, caps the rounds (without it there is no cap)
  --faults all: every fault below; those the cluster cannot inject are skipped and logged at the
    start (loopback leaves out ${NETWORK_FAULTS.join(', ')}; the DCS-cluster ones need --dcs-servers 3)
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
      rounds: { type: 'string' },
      minutes: { type: 'string' },
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
  const faults = values.faults.trim() === 'all' ? [...FAULTS] : values.faults.split(',').map((f) => f.trim()).filter(Boolean);
  const bad = faults.filter((f) => !isFaultName(f));
  if (bad.length > 0 || faults.length === 0) throw new UsageError(`--faults: unknown fault(s) ${bad.join(', ') || '(none given)'}; known: ${FAULTS.join(', ')}`);
  if (values.mode !== undefined && values.sync !== undefined) throw new UsageError('--sync and --mode: give one (--sync on is --mode on)');
  const mode: ReplicationMode =
    values.sync !== undefined ? (oneOf('sync', values.sync, ['on', 'off']) === 'on' ? 'on' : 'async') : oneOf('mode', values.mode ?? 'async', MODES);
  const agent = oneOf<AgentKind>('agent', values.agent, ['pgha', 'patroni']);
  if ((agent === 'patroni' || values.mixed) && mode === 'quorum') throw new UsageError('--mode quorum: Patroni 3.0.2 has no quorum commit (it came in 4.0)');
  if (values.mixed && values.attach !== undefined) throw new UsageError('--mixed and --attach: an attached cluster runs whatever agents it has');
  const minutes = values.minutes === undefined ? undefined : positiveInt('minutes', values.minutes);
  if (minutes === 0) throw new UsageError('--minutes: expected at least 1');
  // A soak is bounded by time; --rounds beside it is a cap. Without --minutes, 10 rounds as before.
  const rounds = values.rounds !== undefined ? positiveInt('rounds', values.rounds) : minutes !== undefined ? Number.MAX_SAFE_INTEGER : 10;
  return {
    rounds,
    ...(minutes !== undefined ? { minutes } : {}),
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

export function span(o: Omit<ChaosOptions, 'log'>): string {
  if (o.minutes === undefined) return `${o.rounds} rounds`;
  return `${o.minutes} minutes of rounds${o.rounds === Number.MAX_SAFE_INTEGER ? '' : ` (at most ${o.rounds})`}`;
}
