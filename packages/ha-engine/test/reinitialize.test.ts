import { describe, expect, it } from 'vitest';
import { REASON_CODES, reinitializeRefusal } from '../src/index.js';

describe("POST /reinitialize refusals (Patroni's, written once for the API and the rule)", () => {
  it('refuses without a leader, then on the leader, and lets a replica of a led cluster through', () => {
    expect(reinitializeRefusal({ leaderName: null, holdsLock: false })).toEqual({ code: 'reinitialize.no-leader', sentence: 'Cluster has no leader, can not reinitialize' });
    // No leader is checked first, as Patroni does: a member cannot hold a lock nobody holds.
    expect(reinitializeRefusal({ leaderName: '', holdsLock: true })?.code).toBe('reinitialize.no-leader');
    expect(reinitializeRefusal({ leaderName: 'pg0', holdsLock: true })).toEqual({ code: 'reinitialize.is-leader', sentence: REASON_CODES['reinitialize.is-leader'].sentence });
    expect(reinitializeRefusal({ leaderName: 'pg0', holdsLock: false })).toBeNull();
  });
});
