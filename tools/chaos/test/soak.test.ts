/** The soak options (`--minutes`, `--faults all`) and the per-fault summary figures. */
import { describe, expect, it } from 'vitest';
import { FAULTS, schedule, type FaultName } from '../src/faults.js';
import { roundFault, type ChaosResult, type RoundResult } from '../src/harness.js';
import { parseOptions, UsageError } from '../src/options.js';
import { falseFailovers, formatSummary, median } from '../src/summary.js';

describe('soak options', () => {
  it('runs 10 rounds by default, no cap with --minutes alone, and --rounds as the cap beside it', () => {
    expect(parseOptions([]).rounds).toBe(10);
    expect(parseOptions([]).minutes).toBeUndefined();
    const soak = parseOptions(['--minutes', '60']);
    expect(soak.minutes).toBe(60);
    expect(soak.rounds).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseOptions(['--minutes', '60', '--rounds', '200'])).toMatchObject({ minutes: 60, rounds: 200 });
  });

  it('refuses a zero or malformed --minutes', () => {
    expect(() => parseOptions(['--minutes', '0'])).toThrow(UsageError);
    expect(() => parseOptions(['--minutes', '1.5'])).toThrow(UsageError);
    expect(() => parseOptions(['--minutes', 'x'])).toThrow(UsageError);
  });

  it('takes --faults all as every fault, in the order of FAULTS', () => {
    expect(parseOptions(['--faults', 'all']).faults).toEqual([...FAULTS]);
    expect(() => parseOptions(['--faults', 'all,node-crash'])).toThrow(UsageError);
  });

  it('gives each round the fault the fixed schedule would, for both orders', () => {
    const list: FaultName[] = ['node-crash', 'agent-kill', 'isolate'];
    for (const order of ['cycle', 'random'] as const) {
      expect(Array.from({ length: 12 }, (_, i) => roundFault(list, i, order, 7))).toEqual(schedule(list, 12, order, 7));
    }
  });
});

const round = (over: Partial<RoundResult> & Pick<RoundResult, 'fault'>): RoundResult => ({
  round: 1, primaryBefore: 'pg0', primaryAfter: 'pg0', recoveredMs: 1000, rejoinedMs: 2000, firstCommitMs: 500,
  writeGapMs: 400, lost: 0, lostBytes: 0, splitBrain: [], acked: 10, notes: [], ...over,
});

/** The cells of the row labelled `label` in the first table, keyed by header. */
function rowOf(summary: string, label: string): Record<string, string> {
  const lines = summary.split('\n\n')[0]!.split('\n');
  const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());
  const header = cells(lines[0]!);
  const row = lines.map(cells).find((c) => c[0] === label)!;
  return Object.fromEntries(header.map((h, i) => [h, row[i]!]));
}

describe('soak summary', () => {
  it('takes the median of an odd and an even count, and none of nothing', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  it('counts a leader change as a false failover only for a fault that must keep the lock', () => {
    expect(falseFailovers([round({ fault: 'node-crash', primaryAfter: 'pg1' })])).toBeNull();
    expect(falseFailovers([
      round({ fault: 'agent-freeze-short' }),
      round({ fault: 'agent-freeze-short', primaryAfter: 'pg2' }),
      round({ fault: 'agent-freeze-short', primaryAfter: null, recoveredMs: null }),
      round({ fault: 'node-crash', primaryAfter: 'pg1' }),
    ])).toBe(1);
  });

  it('reports per fault the rounds, recovered, acked, lost, split-brain windows, primary times and false failovers', () => {
    const result: ChaosResult = {
      mode: 'on', maximumLagOnFailover: 1048576, violations: [], ackedCommits: 70,
      rounds: [
        round({ fault: 'agent-freeze-short', acked: 20 }),
        round({ fault: 'agent-freeze-short', acked: 25, recoveredMs: 3000, primaryAfter: 'pg1' }),
        round({ fault: 'node-crash', acked: 15, recoveredMs: 12_000, firstCommitMs: 14_000, primaryAfter: 'pg2' }),
        round({ fault: 'node-crash', acked: 10, recoveredMs: null, rejoinedMs: null, primaryAfter: null, lost: 2, splitBrain: [{ from: 1, to: 251, members: ['pg0', 'pg1'] }] }),
      ],
    };
    const summary = formatSummary(result);
    expect(rowOf(summary, 'agent-freeze-short')).toMatchObject({
      rounds: '2', recovered: '2/2', 'false failovers': '1', acked: '45', 'lost acked': '0', 'primary s (med)': '2.0', 'primary s (max)': '3.0', 'split-brain windows': '0 (0 ms)',
    });
    expect(rowOf(summary, 'node-crash')).toMatchObject({
      rounds: '2', recovered: '1/2', 'false failovers': '-', acked: '25', 'lost acked': '2', 'primary s (med)': '12.0', 'primary s (max)': '12.0', 'first commit s (med)': '7.3', 'first commit s (max)': '14.0', 'split-brain windows': '1 (250 ms)',
    });
    expect(rowOf(summary, 'all')).toMatchObject({ rounds: '4', acked: '70', 'false failovers': '1', 'lost acked': '2' });
  });
});
