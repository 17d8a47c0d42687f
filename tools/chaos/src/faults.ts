/**
 * The faults, each aimed at the current primary (or at the DCS). `inject` applies the fault and
 * undoes it (thaw, restart, heal) the way an operator or init system would, then returns; the
 * harness then waits for the cluster to recover on its own. Durations follow the cluster's ttl,
 * so a fault that should force a failover outlasts the leader lock.
 */
import type { ClusterTiming } from '@pgha/local-cluster';
import { seededRandom } from '@pgha/test-servers';
import { parseLsn, query } from '@pgha/workload';
import { sleep } from '@pgha/primitives';
import { CLUSTER_FAULTS } from './cluster-faults.js';
import { during, pastTtl } from './fault-timing.js';
import { NETWORK_FAULTS, networkFaults } from './network-faults.js';
import { waitForPrimary, type ActionName, type ChaosMember, type FaultActions } from './target.js';

export const FAULTS = [
  'agent-kill',
  'postmaster-kill',
  'node-crash',
  'agent-freeze',
  'agent-freeze-short',
  'postmaster-freeze',
  'dcs-freeze',
  'dcs-restart',
  'partition',
  'peer-partition',
  'isolate',
  'clock-jump',
  'clock-jump-back',
  'duplicate-name',
  'corrupt-config',
  'bad-patch',
  'dcs-leader-change',
  'dcs-server-down',
  'dcs-quorum-loss',
  'etcd-compact',
  'zk-session-expire',
  ...NETWORK_FAULTS,
] as const;
export type FaultName = (typeof FAULTS)[number];

/**
 * What `--faults` defaults to: the faults before issue 20, so that a seeded run recorded in
 * docs/chaos.md draws the same schedule today. The newer ones are named with `--faults`.
 */
export const DEFAULT_FAULTS: readonly FaultName[] = FAULTS.slice(0, FAULTS.indexOf('bad-patch') + 1).filter(
  (f) => f !== 'agent-freeze-short' && f !== 'postmaster-freeze',
);

export interface FaultContext {
  members: readonly ChaosMember[];
  timing: ClusterTiming;
  /** The actions this fault declared in `needs`, all present. */
  act: FaultActions;
  primary: ChaosMember;
  log(line: string): void;
}

export interface Fault {
  name: FaultName;
  /** One line for the docs and `--help`. */
  description: string;
  /** The actions it is made of: a target lacking one cannot run the fault. */
  needs: readonly ActionName[];
  /**
   * The fault must not move the leader lock (a pause shorter than ttl, a DCS that keeps its
   * quorum): a round that ends with another primary is a false failover, a violation.
   */
  expectSamePrimary?: boolean;
  /**
   * The primary is gone at once (nothing it does after the fault starts counts): in a synchronous
   * mode only a member of the sync key as the fault began may take over, else a violation.
   */
  promotesFromSyncKey?: boolean;
  /** Throws FaultViolation for what the cluster did wrong meanwhile, anything else when it could not apply the fault. */
  inject(ctx: FaultContext): Promise<void>;
}

// Bound on waiting for a failover before the crashed node is brought back anyway; the recovery
// check then reports whatever the cluster did.
const FAILOVER_WAIT_MS = 120_000;


/** WAL received so far by each member other than `primary` (null: it did not answer). */
async function received(members: readonly ChaosMember[], primary: ChaosMember): Promise<Map<string, number | null>> {
  const others = members.filter((m) => m !== primary);
  const rows = await Promise.all(
    others.map((m) =>
      query<{ lsn: string | null }>(m, 'SELECT pg_last_wal_receive_lsn()::text AS lsn', [], 2000).then(
        ([r]) => (r?.lsn ? parseLsn(r.lsn) : null),
        () => null,
      ),
    ),
  );
  return new Map(others.map((m, i) => [m.name, rows[i]!]));
}

/**
 * Cuts the primary off from its peers for ttl + 3 s and checks the cut took: no replica may
 * receive WAL during the first half of the ttl (later a replica may be promoted, in `isolate`,
 * and stream from the new primary). A held TCP connection looks alive to both ends until
 * `wal_receiver_timeout`, so this is the only sign of the cut within the fault.
 */
async function cutFromPeers(ctx: FaultContext, alsoDcs: boolean): Promise<void> {
  const { act, primary, timing, members } = ctx;
  let leak: string | null = null;
  if (alsoDcs) await act.cutDcs(primary);
  await act.cutPeers(primary);
  try {
    await sleep(1000);
    const before = await received(members, primary);
    await sleep((timing.ttl * 1000) / 2 - 1000);
    const after = await received(members, primary);
    for (const [name, lsn] of after) {
      const was = before.get(name);
      if (lsn !== null && was !== null && was !== undefined && lsn > was) leak = `${name} received ${lsn - was} bytes of WAL while cut off from ${primary.name}`;
    }
    await sleep(pastTtl(timing) - (timing.ttl * 1000) / 2);
  } finally {
    await act.healPeers(primary);
    if (alsoDcs) await act.healDcs(primary);
  }
  if (leak) throw new Error(`the cut did not hold: ${leak}`);
}

/**
 * The member agent's wall clock minus the true one, in seconds, from the `Date` header of its
 * REST API (the HTTP server stamps it from the agent's own clock); null when it does not answer.
 */
async function agentClockOffset(m: ChaosMember): Promise<number | null> {
  const res = await fetch(`${m.apiUrl}/patroni`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
  const date = res?.headers.get('date');
  await res?.body?.cancel().catch(() => {});
  return date ? (Date.parse(date) - Date.now()) / 1000 : null;
}

const clockJump = (name: FaultName, offsetS: number, label: string): Fault => ({
  name,
  description: `the primary agent's wall clock jumps ${label} (libfaketime), back to the true time after ttl + 3 s`,
  needs: ['setClockOffset'],
  async inject({ act, primary, timing }) {
    let seen: number | null = null;
    await during(
      async () => {
        await act.setClockOffset(primary, offsetS);
        // The server's Date header is refreshed once a second.
        await sleep(1500);
        seen = await agentClockOffset(primary);
      },
      pastTtl(timing) - 1500,
      () => act.setClockOffset(primary, 0),
    );
    // Checked after undoing it: a jump that did not take would test nothing.
    if (seen === null || Math.abs(seen - offsetS) > 60) throw new Error(`the clock jump did not take: ${primary.name}'s API reports an offset of ${seen === null ? 'nothing' : `${Math.round(seen)} s`}, not ${offsetS} s`);
  },
});

/** PATCH /config bodies that must be refused (issue 15): timers beyond 2^31-1 ms, a 10 ms DCS budget. */
const OUT_OF_RANGE_PATCHES = [{ ttl: 1e7 }, { retry_timeout: 3e6 }, { ttl: 1 }, { loop_wait: 0 }];

async function patchConfig(m: ChaosMember, body: Record<string, unknown>): Promise<{ status: number; text: string }> {
  const res = await fetch(`${m.apiUrl}/config`, {
    method: 'PATCH',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

const faults: Record<FaultName, Fault> = {
  ...CLUSTER_FAULTS,
  'agent-kill': {
    name: 'agent-kill',
    description: "kill -9 of the primary's agent, restarted 3 s later (PostgreSQL keeps running)",
    needs: ['killAgent', 'startAgent'],
    async inject({ act, primary }) {
      await act.killAgent(primary);
      await sleep(3000);
      await act.startAgent(primary);
    },
  },
  'postmaster-kill': {
    name: 'postmaster-kill',
    description: "kill -9 of the primary's postmaster (its agent restarts it or fails over)",
    needs: ['killPostmaster'],
    async inject({ act, primary }) {
      await act.killPostmaster(primary);
    },
  },
  'node-crash': {
    name: 'node-crash',
    description: "kill -9 of the primary's agent and postmaster; the node comes back after a new primary is up",
    needs: ['killAgent', 'killPostmaster', 'startAgent'],
    promotesFromSyncKey: true,
    async inject({ act, members, primary, log }) {
      await act.killAgent(primary);
      await act.killPostmaster(primary);
      try {
        await waitForPrimary(members, FAILOVER_WAIT_MS, primary.name);
      } catch (e) {
        log(`  no new primary after the crash of ${primary.name}: ${(e as Error).message}`);
      }
      await act.startAgent(primary);
    },
  },
  'agent-freeze': {
    name: 'agent-freeze',
    description: "SIGSTOP of the primary's agent for ttl + 3 s, then SIGCONT",
    needs: ['stopAgent', 'contAgent'],
    async inject({ act, primary, timing }) {
      await during(() => act.stopAgent(primary), pastTtl(timing), () => act.contAgent(primary));
    },
  },
  'dcs-freeze': {
    name: 'dcs-freeze',
    description: 'SIGSTOP of the DCS for ttl + 3 s, then SIGCONT',
    needs: ['freezeDcs', 'thawDcs'],
    async inject({ act, timing }) {
      await during(() => act.freezeDcs(), pastTtl(timing), () => act.thawDcs());
    },
  },
  'dcs-restart': {
    name: 'dcs-restart',
    description: 'kill -9 of the DCS, started again ttl s later (same data)',
    needs: ['killDcs', 'startDcs'],
    async inject({ act, timing }) {
      await during(() => act.killDcs(), timing.ttl * 1000, () => act.startDcs());
    },
  },
  partition: {
    name: 'partition',
    description: 'the primary cut off from the DCS (its TCP proxy holds all traffic) for ttl + 3 s, then healed',
    needs: ['cutDcs', 'healDcs'],
    async inject({ act, primary, timing }) {
      await during(() => act.cutDcs(primary), pastTtl(timing), () => act.healDcs(primary));
    },
  },
  'peer-partition': {
    name: 'peer-partition',
    description: 'the primary cut off from its peers (replication and REST, both ways) but not from the DCS, for ttl + 3 s',
    needs: ['cutPeers', 'healPeers'],
    async inject(ctx) {
      await cutFromPeers(ctx, false);
    },
  },
  isolate: {
    name: 'isolate',
    description: 'the primary cut off from the DCS and from its peers for ttl + 3 s, then healed',
    needs: ['cutDcs', 'healDcs', 'cutPeers', 'healPeers'],
    async inject(ctx) {
      await cutFromPeers(ctx, true);
    },
  },
  'clock-jump': clockJump('clock-jump', 3600, '+1 h'),
  'clock-jump-back': clockJump('clock-jump-back', -3600, '-1 h'),
  'duplicate-name': {
    name: 'duplicate-name',
    description: "an agent started from a copy of the primary's YAML whose name was not changed: it must refuse to start, touching nothing",
    needs: ['startDuplicate'],
    async inject({ act, primary, timing, log }) {
      const { exitCode, output } = await act.startDuplicate(primary, (timing.ttl + timing.loopWait + 30) * 1000);
      const said = output.trim().split('\n').filter((l) => l.includes('refusing to start')).at(-1) ?? '';
      if (exitCode === null || exitCode === 0) {
        throw new Error(`the duplicate of ${primary.name} did not refuse to start (${exitCode === null ? 'still running' : 'exit 0'}): ${output.slice(-400)}`);
      }
      log(`  the duplicate of ${primary.name} exited ${exitCode}: ${said.slice(0, 200)}`);
    },
  },
  'corrupt-config': {
    name: 'corrupt-config',
    description: 'the config key cut in half (a partial write, as with etcdctl or zkCli) for ttl + 3 s, then put back',
    needs: ['readDcsKey', 'writeDcsKey'],
    async inject({ act, timing }) {
      const original = await act.readDcsKey('config');
      if (original === null) throw new Error('there is no config key to corrupt');
      await during(() => act.writeDcsKey('config', original.slice(0, Math.floor(original.length / 2))), pastTtl(timing), () => act.writeDcsKey('config', original));
    },
  },
  'bad-patch': {
    name: 'bad-patch',
    description: 'PATCH /config with timing values out of range (ttl 1e7, retry_timeout 3e6, ttl 1, loop_wait 0) on the primary: each must be refused',
    needs: [],
    async inject({ primary, log }) {
      const accepted: string[] = [];
      for (const body of OUT_OF_RANGE_PATCHES) {
        const answer = await patchConfig(primary, body).catch((e: unknown) => ({ status: 0, text: (e as Error).message }));
        if (answer.status === 200) accepted.push(JSON.stringify(body));
        else log(`  PATCH /config ${JSON.stringify(body)}: ${answer.status} ${answer.text.slice(0, 120)}`);
      }
      if (accepted.length > 0) throw new Error(`PATCH /config accepted ${accepted.join(', ')}`);
    },
  },
  ...networkFaults,
};

export function fault(name: FaultName): Fault {
  return faults[name];
}

/** The actions of `needs` that `actions` lacks. */
export function missingActions(name: FaultName, actions: Partial<FaultActions>): ActionName[] {
  return faults[name].needs.filter((a) => actions[a] === undefined);
}

export function isFaultName(s: string): s is FaultName {
  return (FAULTS as readonly string[]).includes(s);
}

/**
 * The fault of each round: `list` in turn, or (`random`) drawn from it with a seeded generator so
 * a run can be repeated.
 */
export function schedule(list: readonly FaultName[], rounds: number, order: 'cycle' | 'random', seed: number): FaultName[] {
  const next = seededRandom(seed);
  return Array.from({ length: rounds }, (_, i) => list[order === 'cycle' ? i % list.length : Math.floor(next() * list.length)]!);
}
