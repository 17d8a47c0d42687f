/**
 * The faults, each aimed at the current primary (or at the DCS). `inject` applies the fault and
 * undoes it (thaw, restart, heal) the way an operator or init system would, then returns; the
 * harness then waits for the cluster to recover on its own. Durations follow the cluster's ttl,
 * so a fault that should force a failover outlasts the leader lock.
 */
import type { LocalCluster, MemberHandle } from '@pgha/local-cluster';
import type { DcsProxy } from './proxy.js';

export const FAULTS = ['agent-kill', 'postmaster-kill', 'node-crash', 'agent-freeze', 'dcs-freeze', 'dcs-restart', 'partition'] as const;
export type FaultName = (typeof FAULTS)[number];

export interface FaultContext {
  cluster: LocalCluster;
  primary: MemberHandle;
  /** The DCS proxy of each member, by name; absent when the run has no proxies. */
  proxies: Map<string, DcsProxy> | null;
  log(line: string): void;
}

export interface Fault {
  name: FaultName;
  /** One line for the docs and `--help`. */
  description: string;
  inject(ctx: FaultContext): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Longer than the leader lock lives, so that a lock nobody renews expires. */
const pastTtl = (c: LocalCluster) => (c.timing.ttl + 3) * 1000;
// Bound on waiting for a failover before the crashed node is brought back anyway; the recovery
// check then reports whatever the cluster did.
const FAILOVER_WAIT_MS = 120_000;

const faults: Record<FaultName, Fault> = {
  'agent-kill': {
    name: 'agent-kill',
    description: "kill -9 of the primary's agent, restarted 3 s later (PostgreSQL keeps running)",
    async inject({ primary }) {
      await primary.killAgent();
      await sleep(3000);
      primary.start();
    },
  },
  'postmaster-kill': {
    name: 'postmaster-kill',
    description: "kill -9 of the primary's postmaster (its agent restarts it or fails over)",
    async inject({ primary }) {
      if (!primary.killPostmaster()) throw new Error(`no postmaster found for ${primary.name}`);
    },
  },
  'node-crash': {
    name: 'node-crash',
    description: "kill -9 of the primary's agent and postmaster; the node comes back after a new primary is up",
    async inject({ cluster, primary, log }) {
      await primary.killAgent();
      primary.killPostmaster();
      try {
        await cluster.waitForPrimary(FAILOVER_WAIT_MS, primary.name);
      } catch (e) {
        log(`  no new primary after the crash of ${primary.name}: ${(e as Error).message}`);
      }
      primary.start();
    },
  },
  'agent-freeze': {
    name: 'agent-freeze',
    description: "SIGSTOP of the primary's agent for ttl + 3 s, then SIGCONT",
    async inject({ cluster, primary }) {
      primary.freezeAgent();
      try {
        await sleep(pastTtl(cluster));
      } finally {
        primary.thawAgent();
      }
    },
  },
  'dcs-freeze': {
    name: 'dcs-freeze',
    description: 'SIGSTOP of the DCS for ttl + 3 s, then SIGCONT',
    async inject({ cluster }) {
      cluster.dcs.freeze();
      try {
        await sleep(pastTtl(cluster));
      } finally {
        cluster.dcs.thaw();
      }
    },
  },
  'dcs-restart': {
    name: 'dcs-restart',
    description: 'kill -9 of the DCS, started again ttl s later (same data)',
    async inject({ cluster }) {
      await cluster.dcs.stop({ kill: true });
      try {
        await sleep(cluster.timing.ttl * 1000);
      } finally {
        await cluster.dcs.start();
      }
    },
  },
  partition: {
    name: 'partition',
    description: "the primary cut off from the DCS (its TCP proxy holds all traffic) for ttl + 3 s, then healed",
    async inject({ cluster, primary, proxies }) {
      const proxy = proxies?.get(primary.name);
      if (!proxy) throw new Error('partition needs the DCS proxies (run without --no-proxy)');
      proxy.partition();
      try {
        await sleep(pastTtl(cluster));
      } finally {
        proxy.heal();
      }
    },
  },
};

export function fault(name: FaultName): Fault {
  return faults[name];
}

export function isFaultName(s: string): s is FaultName {
  return (FAULTS as readonly string[]).includes(s);
}

/**
 * The fault of each round: `list` in turn, or (`random`) drawn from it with a seeded generator so
 * a run can be repeated.
 */
export function schedule(list: readonly FaultName[], rounds: number, order: 'cycle' | 'random', seed: number): FaultName[] {
  const next = mulberry32(seed);
  return Array.from({ length: rounds }, (_, i) => list[order === 'cycle' ? i % list.length : Math.floor(next() * list.length)]!);
}

/** A small seeded PRNG (mulberry32): the same seed gives the same schedule. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
