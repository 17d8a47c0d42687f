// A failing pre_promote script cancels the promotion (issue #9): the member gives the lock back
// and stays out of leader races for ttl, so another candidate wins.
import { describe, expect, it } from 'vitest';
import { decide, initialMemory } from '../src/index.js';
import { leaderSnapshot, NOW, runningReplica, snapshot, summary, unlockedCluster } from './fixtures/snapshots.js';

const failedPromote = { kind: 'promote' as const, label: 'promote', ok: false, error: 'pre_promote script exited with code 1; not promoting', startedAt: NOW - 2000, finishedAt: NOW - 1000 };

describe('a promotion refused by pre_promote', () => {
  it('releases the lock instead of trying again, and remembers when', () => {
    const d = decide(leaderSnapshot({ local: runningReplica(), lastAction: failedPromote }));
    expect(summary(d)).toEqual({
      rule: 'promote-cancelled',
      reason: 'Promotion cancelled because the pre-promote script failed',
      actions: ['release_lock'],
    });
    expect(d.memory.promoteCancelledAt).toBe(NOW - 1000);
  });

  it('skips leader races for ttl afterwards, then races again', () => {
    const memory = { ...initialMemory, promoteCancelledAt: NOW - 1000, outcomeSeen: `promote@${failedPromote.startedAt}` };
    const backoff = decide(snapshot({ cluster: unlockedCluster(), memory, lastAction: failedPromote }));
    expect(summary(backoff)).toEqual({
      rule: 'promote-backoff',
      reason: 'backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily',
      actions: [],
    });
    const later = decide(snapshot({ cluster: unlockedCluster(), memory, lastAction: failedPromote, now: NOW + 30_000 }));
    expect(later.rule).toBe('lock-free');
  });

  it('a member in backoff still follows a new leader', () => {
    const memory = { ...initialMemory, promoteCancelledAt: NOW - 1000 };
    expect(decide(snapshot({ memory })).rule).toBe('follower');
  });
});
