/**
 * A short chaos run on one pgha cluster (etcd, ttl 10 / loop_wait 1 / retry_timeout 3, watchdog
 * on, asynchronous replication, maximum_lag_on_failover 1 MB): a node crash, the primary cut off
 * from its peers only, the primary isolated from the DCS and its peers, and the primary agent's
 * clock jumping an hour ahead. Throughout, the probers must never see two members accept writes
 * at once; after every round the cluster must have one primary again with every member streaming
 * from it, and a failover may lose at most maximum_lag_on_failover of acknowledged WAL. The long
 * runs are the CLI (docs/chaos.md); no duration is asserted here, only bounded.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '../src/harness.js';
import { formatSummary } from '../src/summary.js';

describe('chaos run (pgha on etcd, async)', () => {
  it('recovers from a node crash, a peer partition, an isolated primary and a clock jump with no split-brain window', async () => {
    const lines: string[] = [];
    const result = await runChaos({
      rounds: 4,
      faults: ['node-crash', 'peer-partition', 'isolate', 'clock-jump'],
      order: 'cycle',
      seed: 1,
      dcs: 'etcd',
      agent: 'pgha',
      mode: 'async',
      timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
      watchdog: true,
      echo: process.env['PGHA_E2E_ECHO'] === '1',
      recoveryTimeoutMs: 90_000,
      log: (line) => lines.push(line),
    });
    const report = `${lines.join('\n')}\n${formatSummary(result)}`;

    expect(result.rounds.map((r) => r.fault), report).toEqual(['node-crash', 'peer-partition', 'isolate', 'clock-jump']);
    expect(result.rounds.flatMap((r) => r.splitBrain), report).toEqual([]);
    expect(result.rounds.filter((r) => r.primaryAfter === null || r.rejoinedMs === null || r.notes.length > 0), report).toEqual([]);
    const [crash, peers, isolate, clock] = result.rounds;
    // A crashed node and an isolated primary lose the lock to another member.
    expect(crash!.primaryAfter, report).not.toBe(crash!.primaryBefore);
    expect(isolate!.primaryAfter, report).not.toBe(isolate!.primaryBefore);
    // A primary that still reaches the DCS keeps the lock when its peers cannot reach it, and a
    // wall-clock jump is no reason to fail over.
    expect(peers!.primaryAfter, report).toBe(peers!.primaryBefore);
    expect(clock!.primaryAfter, report).toBe(clock!.primaryBefore);
    expect(clock!.lost, report).toBe(0);
    expect(peers!.lost, report).toBe(0);
    // Writes resumed after every fault, and no failover lost more than the configured bound.
    expect(result.rounds.map((r) => r.firstCommitMs !== null), report).toEqual([true, true, true, true]);
    expect(Math.max(...result.rounds.map((r) => r.lostBytes)), report).toBeLessThanOrEqual(result.maximumLagOnFailover);
    expect(result.violations, report).toEqual([]);
  }, 300_000);
});

describe('chaos run, mixed (pgha with Patroni 3.0.2 as pg1, on etcd, async)', () => {
  it('recovers from a node crash and an isolated primary with a Patroni member in the cluster, no split-brain window', async () => {
    const lines: string[] = [];
    const result = await runChaos({
      rounds: 2,
      faults: ['node-crash', 'isolate'],
      order: 'cycle',
      seed: 1,
      dcs: 'etcd',
      agent: 'pgha',
      mixed: true,
      mode: 'async',
      timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
      watchdog: true,
      echo: process.env['PGHA_E2E_ECHO'] === '1',
      recoveryTimeoutMs: 90_000,
      log: (line) => lines.push(line),
    });
    const report = `${lines.join('\n')}\n${formatSummary(result)}`;
    expect(result.rounds.map((r) => r.fault), report).toEqual(['node-crash', 'isolate']);
    expect(result.rounds.flatMap((r) => r.splitBrain), report).toEqual([]);
    expect(result.rounds.filter((r) => r.primaryAfter === null || r.rejoinedMs === null || r.notes.length > 0), report).toEqual([]);
    for (const r of result.rounds) expect(r.primaryAfter, report).not.toBe(r.primaryBefore);
    expect(Math.max(...result.rounds.map((r) => r.lostBytes)), report).toBeLessThanOrEqual(result.maximumLagOnFailover);
    expect(result.violations, report).toEqual([]);
  }, 300_000);
});
