// Patroni's checkpoint_after_promote made real (issue #19): the new primary says it in its member
// key until its first checkpoint on the new timeline, and a member that must rewind from it waits.
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_RECHECK_MS, checkpointAfterPromoteDue, checkpointAfterPromotePending, decide } from '../src/index.js';
import { clusterWithLeader, config, leaderSnapshot, runningPrimary, runningReplica, snapshot, stopped, summary } from './fixtures/snapshots.js';

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

describe('the CHECKPOINT after promote (the engine decides it, the port runs it)', () => {
  const renew = { kind: 'renew_lock', status: null } as const;

  it('is due with a lock renewal while pending and none runs', () => {
    expect(checkpointAfterPromoteDue({ holdsLock: true, local: promoted, checkpointRunning: false, actions: [renew] })).toBe(true);
  });

  it('not while one runs, not once done, not without a renewal, not beside a background action or a release', () => {
    expect(checkpointAfterPromoteDue({ holdsLock: true, local: promoted, checkpointRunning: true, actions: [renew] })).toBe(false);
    expect(checkpointAfterPromoteDue({ holdsLock: true, local: runningPrimary({ timeline: 2, checkpointTimeline: 2 }), checkpointRunning: false, actions: [renew] })).toBe(false);
    expect(checkpointAfterPromoteDue({ holdsLock: true, local: promoted, checkpointRunning: false, actions: [] })).toBe(false);
    expect(checkpointAfterPromoteDue({ holdsLock: true, local: promoted, checkpointRunning: false, actions: [renew, { kind: 'restart', label: 'restart' }] })).toBe(false);
    expect(checkpointAfterPromoteDue({ holdsLock: true, local: promoted, checkpointRunning: false, actions: [renew, { kind: 'release_lock' }] })).toBe(false);
  });

  it('the new leader renews its lock, then issues it; the next cycle, with it running, does not again', () => {
    const first = summary(decide(leaderSnapshot({ local: promoted }))).actions;
    expect(first[0]).toBe('renew_lock');
    expect(first.filter((a) => a === 'checkpoint')).toHaveLength(1);
    expect(summary(decide(leaderSnapshot({ local: promoted, checkpointRunning: true }))).actions).not.toContain('checkpoint');
    expect(summary(decide(leaderSnapshot({ local: runningPrimary({ timeline: 2, checkpointTimeline: 2 }) }))).actions).not.toContain('checkpoint');
  });

  it('a paused leader issues it too (Patroni checks after every lock update)', () => {
    const d = summary(decide(leaderSnapshot({ local: promoted, config: config({ pause: true }) })));
    expect(d.rule).toBe('paused');
    expect(d.actions.slice(0, 2)).toEqual(['disable_watchdog', 'renew_lock']);
    expect(d.actions).toContain('checkpoint');
  });

  it('a replica of the new leader never issues one', () => {
    const d = decide(snapshot({ local: runningReplica({ timeline: 2, checkpointTimeline: 1 }), cluster: clusterWithLeader({ leader: 'pg0' }) }));
    expect(d.actions.some((a) => a.kind === 'checkpoint')).toBe(false);
  });
});
