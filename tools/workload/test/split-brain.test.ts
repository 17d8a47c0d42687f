import { describe, expect, it } from 'vitest';
import { splitBrainWindows } from '../src/prober.js';

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
