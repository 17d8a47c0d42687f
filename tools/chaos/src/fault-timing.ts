/** How long faults last, and keeping one on for a while: shared by every fault module. */
import type { ClusterTiming } from '@pgha/local-cluster';
import { sleep } from '@pgha/primitives';

/** Longer than the leader lock lives, so that a lock nobody renews expires. */
export const pastTtl = (t: ClusterTiming) => (t.ttl + 3) * 1000;

/**
 * Well inside the leader lock's life and the watchdog's timeout: the lock was renewed and the
 * watchdog kept alive at most loop_wait before the pause, and the agent needs a cycle after it.
 * The watchdog fires ttl - safety_margin after the last keepalive (5 s at ttl 10 with Patroni's
 * default margin of 5 s): a quarter of the ttl leaves 1.5 s beyond a cycle at the e2e timing (a third was seen to fire it on a machine loaded 20-fold).
 */
export const withinTtl = (t: ClusterTiming) => (t.ttl * 1000) / 4;

/** Keeps a fault on for `ms`, undoing it even when the wait is interrupted. */
export async function during(apply: () => Promise<void>, ms: number, undo: () => Promise<void>): Promise<void> {
  await apply();
  try {
    await sleep(ms);
  } finally {
    await undo();
  }
}

/**
 * What a fault found the cluster doing wrong while it was on (a primary still taking writes
 * without a DCS quorum, a session the ensemble never expired...): the harness counts it as a
 * violation, where any other error of `inject` only means the fault could not be applied.
 */
export class FaultViolation extends Error {}
