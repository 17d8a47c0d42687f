import { describe, expect, it } from 'vitest';
import { parseHistory } from '../src/harness.js';

describe('WAL positions', () => {
  it('reads the switch points of a timeline history file', () => {
    const text = '1\t0/5000060\tno recovery target specified\n\n2\t0/7A3F0D8\tno recovery target specified\n';
    expect(parseHistory(text)).toEqual([0x5000060, 0x7a3f0d8]);
    expect(parseHistory('')).toEqual([]);
  });
});
