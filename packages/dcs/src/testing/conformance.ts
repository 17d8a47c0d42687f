/**
 * The driver conformance suite: every DCS driver (etcd, ZooKeeper, the in-memory one, a third
 * party's) runs it to show it keeps the contract of `driver.ts`, and the parts of `ClusterStore`
 * that depend on it. A driver package calls it from a test file:
 *
 * ```ts
 * describeDriverConformance({ name: 'etcd3', makeDriver: (o) => createDriver({ ...defaults, ...o }) });
 * ```
 *
 * Each test uses a fresh random scope (so tests never see each other's keys and a shared server
 * needs no cleaning) and closes, with revoke, every driver it made. The cases live in one file
 * per contract area, in the order they run here.
 */
import { describe } from 'vitest';
import { describeClusterStoreContract } from './cluster-store.js';
import { contractContext, type ConformanceTarget } from './context.js';
import { describeCloseContract, describeTimingContract } from './lifecycle.js';
import { describeDeleteClusterContract, describeLoadContract } from './load.js';
import { describeLeaderLockContract, describeSessionHoldContract } from './lock.js';
import { describeMemberKeysContract } from './members.js';
import { describeSameNameContract } from './same-name.js';
import { describeStoredKeysContract } from './stored-keys.js';
import { describeWatchContract } from './watch.js';

export function describeDriverConformance(target: ConformanceTarget): void {
  describe(`DcsDriver conformance: ${target.name}`, () => {
    const ctx = contractContext(target);
    describeLoadContract(ctx);
    describeLeaderLockContract(ctx);
    describeSameNameContract(ctx);
    describeSessionHoldContract(ctx);
    describeMemberKeysContract(ctx);
    describeStoredKeysContract(ctx);
    describeDeleteClusterContract(ctx);
    describeWatchContract(ctx);
    describeTimingContract(ctx);
    describeCloseContract(ctx);
    describeClusterStoreContract(ctx);
  });
}
