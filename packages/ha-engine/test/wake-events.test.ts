// Which DCS watch events wake the HA loop (core/wake-events.ts; moved from the scheduler, issue #19).
import { describe, expect, it } from 'vitest';
import { wakesLoop } from '../src/index.js';

describe('wakesLoop', () => {
  it('wakes every member on the leader, config and failover keys', () => {
    for (const key of ['leader', 'config', 'failover']) {
      expect(wakesLoop({ key }, { holdsLock: false })).toBe(true);
      expect(wakesLoop({ key, created: true }, { holdsLock: true })).toBe(true);
    }
  });

  it('wakes the lock holder, and only it, when a member key is created', () => {
    expect(wakesLoop({ key: 'members/pg1', created: true }, { holdsLock: true })).toBe(true);
    expect(wakesLoop({ key: 'members/pg1', created: true }, { holdsLock: false })).toBe(false);
  });

  it('does not wake on a member key update, or when the driver cannot tell the created flag', () => {
    expect(wakesLoop({ key: 'members/pg1', created: false }, { holdsLock: true })).toBe(false);
    expect(wakesLoop({ key: 'members/pg1' }, { holdsLock: true })).toBe(false);
  });

  it('does not wake on other keys or on the "*" event', () => {
    for (const key of ['sync', 'status', 'history', 'failsafe', 'initialize', '*']) expect(wakesLoop({ key, created: true }, { holdsLock: true })).toBe(false);
  });
});
