// Member slot upkeep: the running primary holding the lock keeps a physical slot per other member.
import { describe, expect, it } from 'vitest';
import { decide } from '../src/index.js';
import { config, leaderSnapshot, runningReplica, snapshot, summary } from './fixtures/snapshots.js';

const withSlots = config({}, { use_slots: true });

describe('member key', () => {
  it('says when a required watchdog is unusable, so pghactl list can show why the member never promotes', () => {
    expect(decide(snapshot({ watchdogHealthy: false })).member?.extra).toEqual({ watchdog_failed: true });
    expect(decide(snapshot()).member?.extra).toEqual({});
  });
});

describe('member slots', () => {
  it('the primary with the lock keeps a slot for every other member', () => {
    const d = decide(leaderSnapshot({ config: withSlots }));
    expect(summary(d).actions).toEqual(['renew_lock', 'sync_slots(+pg1,+pg2)']);
  });

  it('no slots when use_slots is off', () => {
    expect(summary(decide(leaderSnapshot({ config: config({}, { use_slots: false }) }))).actions).toEqual(['renew_lock']);
  });

  it('a replica holding the lock promotes first and keeps no slots yet', () => {
    const d = decide(leaderSnapshot({ config: withSlots, local: runningReplica({ following: null }) }));
    expect(summary(d).actions).not.toContainEqual(expect.stringMatching(/^sync_slots/));
  });

  it('a replica keeps no member slots', () => {
    expect(summary(decide(snapshot({ config: withSlots }))).actions).not.toContainEqual(expect.stringMatching(/^sync_slots/));
  });
});
