/**
 * Faults of issue 20 on the loopback harness: pauses of the primary's processes shorter and
 * longer than the ttl, and faults of a 3-server DCS (`--dcs-servers 3`): a leader change, one
 * server down, the quorum lost and regained, etcd compaction under the agents' watches, a
 * ZooKeeper session expired by the ensemble.
 */
import { query } from '@pgha/workload';
import { sleep } from '@pgha/primitives';
import { during, FaultViolation, pastTtl, withinTtl } from './fault-timing.js';
import type { Fault, FaultContext, FaultName } from './faults.js';
import type { ChaosMember } from './target.js';

/** Whether `m` answers as a primary (not in recovery); null when it does not answer. */
async function acceptsWrites(m: ChaosMember): Promise<boolean | null> {
  return query<{ r: boolean }>(m, 'SELECT pg_is_in_recovery() AS r', [], 2000).then(
    ([row]) => row?.r === false,
    () => null,
  );
}

/**
 * Without a DCS quorum nobody can renew the lock: the primary must stop taking writes once
 * retry_timeout has passed, or a replica promoted after the quorum returns would be a second
 * writable primary. Polls until then (a cycle, the demotion and a margin later), and says when it did not.
 */
async function stopsWritesWithoutQuorum({ primary, timing }: FaultContext, outageMs: number): Promise<void> {
  const deadline = Date.now() + Math.min(outageMs, (timing.retryTimeout + 2 * timing.loopWait + 3) * 1000);
  while (Date.now() < deadline) {
    if ((await acceptsWrites(primary)) !== true) return;
    await sleep(250);
  }
  throw new FaultViolation(`${primary.name} still accepted writes ${Math.round(outageMs / 1000)} s into the loss of the DCS quorum`);
}

/** pg_postmaster_start_time() of `m` as text; null when it does not answer. */
async function postmasterStart(m: ChaosMember): Promise<string | null> {
  return query<{ t: string }>(m, 'SELECT pg_postmaster_start_time()::text AS t', [], 2000).then(
    ([row]) => row?.t ?? null,
    () => null,
  );
}

export type ClusterFaultName = Extract<FaultName, 'agent-freeze-short' | 'postmaster-freeze' | 'dcs-leader-change' | 'dcs-server-down' | 'dcs-quorum-loss' | 'etcd-compact' | 'zk-session-expire'>;

export const CLUSTER_FAULTS: Record<ClusterFaultName, Fault> = {
  'agent-freeze-short': {
    name: 'agent-freeze-short',
    description: "SIGSTOP of the primary's agent for ttl / 4 s (the lock and the watchdog outlive it), then SIGCONT: a failover is a violation",
    needs: ['stopAgent', 'contAgent'],
    expectSamePrimary: true,
    async inject({ act, primary, timing, log }) {
      const before = await postmasterStart(primary);
      await during(() => act.stopAgent(primary), withinTtl(timing), () => act.contAgent(primary));
      await sleep(timing.loopWait * 2000);
      const after = await postmasterStart(primary);
      // Not a violation by itself: a loaded machine can delay the keepalive past the watchdog's timeout.
      if (before !== null && after !== before) log(`  ${primary.name}'s PostgreSQL was restarted during the pause (fenced by its watchdog?)`);
    },
  },
  'postmaster-freeze': {
    name: 'postmaster-freeze',
    description: "SIGSTOP of the primary's postmaster and all its backends (a hung server) for ttl + 3 s, then SIGCONT",
    needs: ['freezePostgres', 'thawPostgres'],
    async inject({ act, primary, timing }) {
      await during(() => act.freezePostgres(primary), pastTtl(timing), () => act.thawPostgres(primary));
    },
  },
  'dcs-leader-change': {
    name: 'dcs-leader-change',
    description: "the DCS's leadership moves (etcd: etcdctl move-leader; ZooKeeper: kill -9 of the leading server, started again once another leads)",
    needs: ['changeDcsLeader'],
    async inject({ act, log }) {
      log(`  ${await act.changeDcsLeader()}`);
    },
  },
  'dcs-server-down': {
    name: 'dcs-server-down',
    description: 'kill -9 of one follower of the 3-server DCS for ttl + 3 s (the quorum stays): a failover is a violation',
    needs: ['stopDcsServers', 'startDcsServers'],
    expectSamePrimary: true,
    async inject({ act, timing, log }) {
      const down = await act.stopDcsServers(1);
      log(`  DCS server ${down.join(', ')} down`);
      try {
        await sleep(pastTtl(timing));
      } finally {
        await act.startDcsServers(down);
      }
    },
  },
  'dcs-quorum-loss': {
    name: 'dcs-quorum-loss',
    description: 'kill -9 of two of the 3 DCS servers for ttl + 3 s, then both started: the primary must stop taking writes meanwhile',
    needs: ['stopDcsServers', 'startDcsServers'],
    async inject(ctx) {
      const outage = pastTtl(ctx.timing);
      const down = await ctx.act.stopDcsServers(2);
      const t0 = Date.now();
      try {
        await stopsWritesWithoutQuorum(ctx, outage);
        await sleep(Math.max(0, outage - (Date.now() - t0)));
      } finally {
        await ctx.act.startDcsServers(down);
      }
    },
  },
  'etcd-compact': {
    name: 'etcd-compact',
    description: "etcd compacted to its current revision while the replicas' watches are cut off for 2 s (they resume from a compacted revision): a failover is a violation",
    needs: ['compactDcs', 'churnDcs', 'cutDcs', 'healDcs'],
    expectSamePrimary: true,
    async inject({ act, members, primary, log }) {
      const replicas = members.filter((m) => m !== primary);
      for (const m of replicas) await act.cutDcs(m);
      try {
        await act.churnDcs(20);
        log(`  compacted at revision ${await act.compactDcs()}`);
        await sleep(2000);
      } finally {
        for (const m of replicas) await act.healDcs(m);
      }
      // Compaction under live watches too, the replicas' included.
      await act.churnDcs(5);
      await act.compactDcs();
    },
  },
  'zk-session-expire': {
    name: 'zk-session-expire',
    description: "a replica's ZooKeeper session expired by the ensemble (its connections held until its member znode is gone), then healed: it must come back; a failover is a violation",
    needs: ['expireDcsSession', 'readDcsKey'],
    expectSamePrimary: true,
    async inject({ act, members, primary, timing, log }) {
      const replica = members.find((m) => m !== primary)!;
      const ms = await act.expireDcsSession(replica, (timing.ttl * 3) * 1000);
      log(`  ${replica.name}'s session expired after ${(ms / 1000).toFixed(1)} s`);
      const deadline = Date.now() + (timing.ttl + timing.retryTimeout * 2) * 1000;
      while ((await act.readDcsKey(`members/${replica.name}`)) === null) {
        if (Date.now() > deadline) throw new FaultViolation(`${replica.name} did not re-create its member key after its session expired`);
        await sleep(250);
      }
    },
  },
};
