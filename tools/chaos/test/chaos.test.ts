/**
 * A short chaos run on one pgha cluster (etcd, ttl 10 / loop_wait 1 / retry_timeout 3, watchdog
 * on, asynchronous replication): a node crash, a postmaster kill and a frozen agent. Throughout,
 * the probers must never see two members accept writes at once, and after every round the
 * cluster must have one primary again with every member streaming from it. The long run is the
 * CLI (docs/chaos.md); no duration is asserted here, only bounded.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '../src/harness.js';
import { formatSummary } from '../src/summary.js';

describe('chaos run (pgha on etcd, async)', () => {
  it('recovers from a node crash, a postmaster kill and a frozen agent with no split-brain window', async () => {
    const lines: string[] = [];
    const result = await runChaos({
      rounds: 3,
      faults: ['node-crash', 'postmaster-kill', 'agent-freeze'],
      order: 'cycle',
      seed: 1,
      dcs: 'etcd',
      agent: 'pgha',
      sync: false,
      timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
      watchdog: true,
      echo: process.env['PGHA_E2E_ECHO'] === '1',
      recoveryTimeoutMs: 90_000,
      log: (line) => lines.push(line),
    });
    const report = `${lines.join('\n')}\n${formatSummary(result)}`;

    expect(result.rounds.map((r) => r.fault), report).toEqual(['node-crash', 'postmaster-kill', 'agent-freeze']);
    expect(result.rounds.flatMap((r) => r.splitBrain), report).toEqual([]);
    expect(result.rounds.filter((r) => r.primaryAfter === null || r.rejoinedMs === null || r.notes.length > 0), report).toEqual([]);
    // A crashed node and a frozen agent lose the lock to another member; a killed postmaster is
    // restarted in place by its agent.
    const [crash, postmaster, freeze] = result.rounds;
    expect(crash!.primaryAfter, report).not.toBe(crash!.primaryBefore);
    expect(postmaster!.primaryAfter, report).toBe(postmaster!.primaryBefore);
    expect(freeze!.primaryAfter, report).not.toBe(freeze!.primaryBefore);
    // Writes resumed after every fault.
    expect(result.rounds.map((r) => r.firstCommitMs !== null), report).toEqual([true, true, true]);
    expect(result.violations, report).toEqual([]);
  }, 240_000);
});
