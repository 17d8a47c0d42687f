// Maintenance mode (`pause: true`): the agent keeps the DCS current but leaves PostgreSQL alone.
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/index.js';
import { decide } from '../src/index.js';
import { config, leaderSnapshot, NOW, runningPrimary, snapshot, stopped, summary, unlockedCluster } from './fixtures/snapshots.js';

const pause = config({ pause: true });

function paused(s: Snapshot): ReturnType<typeof summary> {
  return summary(decide({ ...s, config: pause }));
}

describe('paused', () => {
  it('the leader keeps renewing, with the watchdog off', () => {
    expect(paused(leaderSnapshot())).toEqual({
      rule: 'paused',
      reason: 'PAUSE: no action. I am (pg0), the leader with the lock',
      actions: ['disable_watchdog', 'renew_lock'],
    });
    expect(decide({ ...leaderSnapshot(), config: pause }).member?.pause).toBe(true);
  });

  it('a lost renewal does not demote', () => {
    const d = decide({ ...leaderSnapshot(), config: pause });
    const renew = d.actions.find((a) => a.kind === 'renew_lock');
    expect(renew && 'otherwise' in renew ? renew.otherwise : null).toEqual({
      reason: 'continue to run as primary after failing to update leader lock in DCS',
      actions: [],
    });
  });

  it('a replica does not re-point, nobody fails over, a stopped server is not started', () => {
    expect(paused(snapshot({ cluster: unlockedCluster() }))).toEqual({ rule: 'paused', reason: 'PAUSE: no action. I am (pg1)', actions: ['disable_watchdog'] });
    expect(paused(snapshot({ local: stopped('replica') }))).toEqual({ rule: 'paused', reason: 'PAUSE: postgres is not running', actions: ['disable_watchdog'] });
  });

  it('the lock goes when the leader is not a running primary', () => {
    expect(paused(leaderSnapshot({ local: stopped('primary') })).actions).toEqual(['disable_watchdog', 'release_lock']);
  });

  it('a primary without the lock takes a free one and stays primary otherwise', () => {
    expect(paused(snapshot({ me: 'pg0', cluster: unlockedCluster(), local: runningPrimary() })).actions).toEqual(['disable_watchdog', 'acquire_lock']);
    expect(paused(snapshot({ local: runningPrimary() })).reason).toBe('PAUSE: continue to run as primary without lock');
  });

  it('a primary keeps running when the DCS is unreachable', () => {
    const d = decide(snapshot({ me: 'pg0', cluster: { error: 'down' }, local: runningPrimary(), lock: { held: true, validUntil: NOW }, config: pause }));
    expect(summary(d)).toEqual({ rule: 'dcs-unavailable', reason: 'PAUSE: DCS is not accessible', actions: [] });
  });

  it('management requests still run', () => {
    expect(paused(snapshot({ intents: { restart: { requestedAt: 1 } } })).actions).toEqual(['consume_intent(restart)', 'restart']);
  });
});
