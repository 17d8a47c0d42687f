import { describe, expect, it } from 'vitest';
import { longestGap, parseLsn, recoveredAfter, type AckedCommit } from '../src/index.js';

const commit = (id: number, sentAt: number, at: number, member = 'pg0'): AckedCommit => ({ id, member, sentAt, at, lsn: 0 });

describe('WAL positions', () => {
  it('parses pg_lsn text as a byte position', () => {
    expect(parseLsn('0/3000148')).toBe(0x3000148);
    expect(parseLsn('1/0')).toBe(2 ** 32);
    expect(() => parseLsn('3000148')).toThrow('not an LSN');
  });
});

describe('write gaps', () => {
  const commits = [commit(1, 0, 5), commit(2, 10, 15), commit(3, 20, 900), commit(4, 905, 910), commit(5, 2000, 5000)];

  it('measures the longest gap between commits sent in the range, from the commit before it', () => {
    expect(longestGap(commits, 10, 1000)).toBe(885);
    expect(longestGap(commits, 905, 1000)).toBe(10);
    expect(longestGap(commits, 3000, 4000)).toBe(0);
  });

  it('finds the first commit sent after the first failure at or after the disruption', () => {
    const writer = { acked: () => commits, failures: () => [12, 950] };
    expect(recoveredAfter(writer, 0)?.id).toBe(3);
    expect(recoveredAfter(writer, 13)?.id).toBe(5);
    expect(recoveredAfter(writer, 951)).toBeUndefined();
    expect(recoveredAfter({ acked: () => commits, failures: () => [] }, 0)).toBeUndefined();
  });
});
