/**
 * Issue 20's DCS-cluster faults, short: one chaos run per store on a 3-server DCS (pgha, ttl 10 /
 * loop_wait 1 / retry_timeout 3, watchdog on, `synchronous_mode: on`, so no acknowledged commit
 * may be lost), one round per fault. ZooKeeper: its leader killed, the quorum lost past the ttl
 * and regained, a replica's session expired by the ensemble (`dcs-server-down` is left to the CLI
 * runs to keep the suite's time).
 * etcd: `move-leader`, compaction to the current revision while the replicas' watches resume
 * from before it. The faults themselves fail a round when the primary keeps taking writes
 * without a quorum, or a session never expires; the harness when two members accept writes at
 * once, a commit is lost, or a fault that must not move the lock does (a false failover).
 * The long runs are the CLI (docs/chaos.md). PGHA_E2E_DCS=etcd (or zookeeper) runs one store.
 */
import { describe, expect, it } from 'vitest';
import type { DcsKind } from '@pgha/local-cluster';
import type { FaultName } from '../src/faults.js';
import { runChaos } from '../src/harness.js';
import { formatSummary } from '../src/summary.js';

const FAULTS_BY_STORE: Record<DcsKind, FaultName[]> = {
  zookeeper: ['dcs-leader-change', 'zk-session-expire', 'dcs-quorum-loss'],
  etcd: ['dcs-leader-change', 'etcd-compact'],
};
const stores = (process.env['PGHA_E2E_DCS']?.split(',') ?? ['zookeeper', 'etcd']) as DcsKind[];

describe.each(stores)('chaos on a 3-server %s', (dcs) => {
  it(`${FAULTS_BY_STORE[dcs].join(', ')}: no split brain, no lost commit, no false failover, every round recovered`, async () => {
    const faults = FAULTS_BY_STORE[dcs];
    const lines: string[] = [];
    const result = await runChaos({
      rounds: faults.length,
      faults,
      order: 'cycle',
      seed: 1,
      dcs,
      dcsServers: 3,
      agent: 'pgha',
      mode: 'on',
      timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
      watchdog: true,
      echo: process.env['PGHA_E2E_ECHO'] === '1',
      recoveryTimeoutMs: 90_000,
      log: (line) => lines.push(line),
    });
    const report = `${lines.join('\n')}\n${formatSummary(result)}`;

    expect(result.rounds.map((r) => r.fault), report).toEqual(faults);
    expect(result.rounds.filter((r) => r.primaryAfter === null || r.rejoinedMs === null || r.notes.length > 0), report).toEqual([]);
    expect(result.rounds.flatMap((r) => r.splitBrain), report).toEqual([]);
    expect(result.rounds.reduce((n, r) => n + r.lost, 0), report).toBe(0);
    // A DCS that keeps (or regains) its quorum gives nobody a reason to take the lock.
    const samePrimary = result.rounds.filter((r) => r.fault !== 'dcs-quorum-loss').map((r) => r.primaryAfter === r.primaryBefore);
    expect(samePrimary, report).toEqual(samePrimary.map(() => true));
    expect(result.rounds.map((r) => r.firstCommitMs !== null), report).toEqual(faults.map(() => true));
    expect(result.violations, report).toEqual([]);
  }, 420_000);
});
