// Patroni's checkpoint_after_promote made real (issue #19): the new primary says it in its member
// key until its first checkpoint on the new timeline, and a member that must rewind from it waits.
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_RECHECK_MS, checkpointAfterPromotePending, decide } from '../src/index.js';
import { leaderSnapshot, runningPrimary, runningReplica, stopped } from './fixtures/snapshots.js';

const promoted = runningPrimary({ timeline: 2, checkpointTimeline: 1 });

describe('checkpointAfterPromotePending', () => {
  it('a lock holder running as primary whose latest checkpoint is on an older timeline', () => {
    expect(checkpointAfterPromotePending({ holdsLock: true, local: promoted })).toBe(true);
  });

  it('not once the checkpoint is on the new timeline', () => {
    expect(checkpointAfterPromotePending({ holdsLock: true, local: runningPrimary({ timeline: 2, checkpointTimeline: 2 }) })).toBe(false);
  });

  it('not without the lock, not as a replica, not stopped, not when the state is unknown', () => {
    expect(checkpointAfterPromotePending({ holdsLock: false, local: promoted })).toBe(false);
    expect(checkpointAfterPromotePending({ holdsLock: true, local: runningReplica({ timeline: 2, checkpointTimeline: 1 }) })).toBe(false);
    expect(checkpointAfterPromotePending({ holdsLock: true, local: stopped('primary', { timeline: 2, checkpointTimeline: 1 }) })).toBe(false);
    expect(checkpointAfterPromotePending({ holdsLock: true, local: { ...promoted, unknown: 'state query timed out' } })).toBe(false);
  });

  it('never holds anyone back when a timeline is not known', () => {
    expect(checkpointAfterPromotePending({ holdsLock: true, local: runningPrimary({ timeline: 2 }) })).toBe(false);
    expect(checkpointAfterPromotePending({ holdsLock: true, local: runningPrimary({ timeline: null, checkpointTimeline: 1 }) })).toBe(false);
  });
});

describe('the member key of a new primary', () => {
  it('says checkpoint_after_promote: false until the checkpoint, and the leader looks again soon', () => {
    const d = decide(leaderSnapshot({ local: promoted }));
    expect(d.member?.checkpoint_after_promote).toBe(false);
    expect(d.wakeAfterMs).toBeLessThanOrEqual(CHECKPOINT_RECHECK_MS);
  });

  it('leaves the field out afterwards, as Patroni does', () => {
    const d = decide(leaderSnapshot({ local: runningPrimary({ timeline: 2, checkpointTimeline: 2 }) }));
    expect(d.member).not.toHaveProperty('checkpoint_after_promote');
  });
});
