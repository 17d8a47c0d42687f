import { describe, expect, it } from 'vitest';
import { FAULTS, schedule } from '../src/faults.js';

describe('schedule', () => {
  it('repeats a random schedule for the same seed and cycles in order otherwise', () => {
    const a = schedule(FAULTS, 20, 'random', 42);
    expect(schedule(FAULTS, 20, 'random', 42)).toEqual(a);
    expect(schedule(FAULTS, 20, 'random', 43)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(schedule(['node-crash', 'agent-kill'], 3, 'cycle', 1)).toEqual(['node-crash', 'agent-kill', 'node-crash']);
  });
});
