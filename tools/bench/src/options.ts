/** The command-line options every bench script shares: agents, DCS, repetitions, timing, dist build, JSON output. */
import type { AgentKind, ClusterTiming, DcsKind } from '@pgha/local-cluster';

export interface CommonOptions {
  agents: AgentKind[];
  dcs: DcsKind;
  reps: number;
  timing: ClusterTiming;
  dist: boolean;
  json: string | null;
}

/** The value after `flag`, if given. */
export function flagValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** `--agents`, `--dcs`, `--reps`, `--timing ttl/loop_wait/retry_timeout`, `--dist`, `--json FILE`. */
export function parseCommonArgs(argv: string[], defaultTiming: ClusterTiming): CommonOptions {
  const [ttl, loopWait, retryTimeout] = (flagValue(argv, '--timing') ?? `${defaultTiming.ttl}/${defaultTiming.loopWait}/${defaultTiming.retryTimeout}`).split('/').map(Number);
  return {
    agents: (flagValue(argv, '--agents') ?? 'pgha,patroni').split(',') as AgentKind[],
    dcs: flagValue(argv, '--dcs') === 'zookeeper' ? 'zookeeper' : 'etcd',
    reps: Number(flagValue(argv, '--reps') ?? 3),
    timing: { ttl: ttl ?? defaultTiming.ttl, loopWait: loopWait ?? defaultTiming.loopWait, retryTimeout: retryTimeout ?? defaultTiming.retryTimeout },
    dist: argv.includes('--dist'),
    json: flagValue(argv, '--json') ?? null,
  };
}

/** The median of `xs`, or null when empty. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
