/**
 * The faults of the namespace mode (host-target.ts): done to the network between hosts, as on
 * real machines. Each is undone by the fault itself; the harness then waits for recovery.
 */
import { sleep } from '@pgha/primitives';
import type { LinkShape } from '@pgha/local-cluster';
import type { Fault } from './faults.js';
import { waitForPrimary } from './target.js';

export const NETWORK_FAULTS = ['host-crash', 'dcs-one-way', 'replica-cut', 'slow-dcs', 'slow-peers'] as const;
export type NetworkFaultName = (typeof NETWORK_FAULTS)[number];

const pastTtl = (ttl: number) => (ttl + 3) * 1000;
const FAILOVER_WAIT_MS = 120_000;
/** Slow enough to matter (2 × 2-2.5 s per round trip), the range issue 20 names. */
export const SLOW_LINK: LinkShape = { delayMs: 2000, jitterMs: 500, loss: 0.01 };

export const networkFaults: Record<NetworkFaultName, Fault> = {
  'host-crash': {
    name: 'host-crash',
    description: "the primary's host dies (link down, then its agent, PostgreSQL and the DCS server on it killed; the etcd leader moved there first); back after a new primary is up",
    needs: ['crashHost', 'restartHost', 'moveDcsLeaderTo'],
    async inject({ act, members, primary, log }) {
      await act.moveDcsLeaderTo(primary).catch((e: unknown) => log(`  etcd leader not moved: ${(e as Error).message}`));
      await act.crashHost(primary);
      try {
        await waitForPrimary(members, FAILOVER_WAIT_MS, primary.name);
      } catch (e) {
        log(`  no new primary after the crash of ${primary.name}'s host: ${(e as Error).message}`);
      }
      await act.restartHost(primary);
    },
  },
  'dcs-one-way': {
    name: 'dcs-one-way',
    description: "the primary's packets to every DCS server dropped (nft, one way: answers would still come back) for ttl + 3 s",
    needs: ['cutDcsOut', 'healDcs'],
    async inject({ act, primary, timing }) {
      await act.cutDcsOut(primary);
      try {
        await sleep(pastTtl(timing.ttl));
      } finally {
        await act.healDcs(primary);
      }
    },
  },
  'replica-cut': {
    name: 'replica-cut',
    description: 'the primary cut from one replica (nft, both ways), the DCS reachable by all, for ttl + 3 s',
    needs: ['cutLink', 'healLink'],
    async inject({ act, members, primary, timing }) {
      const replica = members.find((m) => m !== primary)!;
      await act.cutLink(primary, replica);
      try {
        await sleep(pastTtl(timing.ttl));
      } finally {
        await act.healLink(primary, replica);
      }
    },
  },
  'slow-dcs': {
    name: 'slow-dcs',
    description: `the primary's links to the DCS slowed (${SLOW_LINK.delayMs} ms each way, ${SLOW_LINK.jitterMs} ms jitter, ${SLOW_LINK.loss * 100}% loss) for 2 × ttl`,
    needs: ['slowDcs', 'clearLinks'],
    async inject({ act, primary, timing }) {
      await act.slowDcs(primary, SLOW_LINK);
      try {
        await sleep(2 * timing.ttl * 1000);
      } finally {
        await act.clearLinks();
      }
    },
  },
  'slow-peers': {
    name: 'slow-peers',
    description: `the link to the primary's PostgreSQL (replication) slowed (${SLOW_LINK.delayMs} ms each way, jitter, loss) for 2 × ttl`,
    needs: ['slowPeer', 'clearLinks'],
    async inject({ act, primary, timing }) {
      await act.slowPeer(primary, SLOW_LINK);
      try {
        await sleep(2 * timing.ttl * 1000);
      } finally {
        await act.clearLinks();
      }
    },
  },
};
