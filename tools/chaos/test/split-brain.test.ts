import { describe, expect, it } from 'vitest';
import { splitBrainWindows } from '../src/prober.js';
import { FAULTS, schedule } from '../src/faults.js';

describe('splitBrainWindows', () => {
  it('finds no window when one member stops accepting writes before the next starts', () => {
    const intervals = [
      { member: 'pg0', from: 0, to: 1000 },
      { member: 'pg1', from: 1001, to: 5000 },
      { member: 'pg0', from: 6000, to: 7000 },
    ];
    expect(splitBrainWindows(intervals)).toEqual([]);
  });

  it('reports the overlap of two members, including a single accepted probe inside another interval', () => {
    const intervals = [
      { member: 'pg0', from: 0, to: 1000 },
      { member: 'pg1', from: 800, to: 5000 },
      { member: 'pg2', from: 3000, to: 3000 },
    ];
    expect(splitBrainWindows(intervals)).toEqual([
      { members: ['pg0', 'pg1'], from: 800, to: 1000 },
      { members: ['pg1', 'pg2'], from: 3000, to: 3000 },
    ]);
  });

  it('ignores intervals outside the range asked for', () => {
    const intervals = [
      { member: 'pg0', from: 0, to: 1000 },
      { member: 'pg1', from: 500, to: 600 },
    ];
    expect(splitBrainWindows(intervals, 2000, 3000)).toEqual([]);
  });
});

describe('schedule', () => {
  it('repeats a random schedule for the same seed and cycles in order otherwise', () => {
    const a = schedule(FAULTS, 20, 'random', 42);
    expect(schedule(FAULTS, 20, 'random', 42)).toEqual(a);
    expect(schedule(FAULTS, 20, 'random', 43)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(schedule(['node-crash', 'agent-kill'], 3, 'cycle', 1)).toEqual(['node-crash', 'agent-kill', 'node-crash']);
  });
});
