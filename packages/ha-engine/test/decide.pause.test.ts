// Maintenance mode (`pause: true`): the agent keeps the DCS current but leaves PostgreSQL alone.
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/index.js';
import { decide } from '../src/index.js';
import { clusterWithLeader, config, leaderSnapshot, NOW, peer, runningPrimary, snapshot, stopped, summary, unlockedCluster } from './fixtures/snapshots.js';

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
      code: 'pause.renew-failed',
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

  it('a switchover to a named candidate still runs: the leader hands over, the candidate races', () => {
    const failover = { leader: 'pg0', member: 'pg1' };
    const leader = paused(leaderSnapshot({ cluster: clusterWithLeader({ failover }), peers: [peer('pg1'), peer('pg2')] }));
    expect(leader.actions).toContain('demote(graceful)');
    const candidate = paused(snapshot({ cluster: unlockedCluster({ failover }), peers: [peer('pg0'), peer('pg2')] }));
    expect(candidate.actions).toContain('acquire_lock');
    expect(candidate.actions).toContain('promote');
    // Anyone else keeps still.
    expect(paused(snapshot({ me: 'pg2', cluster: unlockedCluster({ failover }), peers: [peer('pg0'), peer('pg1')] })).actions).toEqual(['disable_watchdog']);
  });

  it('management requests still run', () => {
    expect(paused(snapshot({ intents: { restart: { requestedAt: 1 } } })).actions).toEqual(['consume_intent(restart)', 'restart']);
  });
});
