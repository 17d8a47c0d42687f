// Decisions of the lock holder: renewals with the optime, promotion, history, switchover and
// failover requests, a primary still starting after a crash.
import { describe, expect, it } from 'vitest';
import { decide } from '../src/index.js';
import {
  actionOf,
  clusterWithLeader,
  leaderSnapshot,
  NOW,
  peer,
  runningPrimary,
  runningReplica,
  summary,
  WALL_NOW,
} from './fixtures/snapshots.js';

const allPeers = [peer('pg1'), peer('pg2')];

describe('steady state', () => {
  it('renews the lock, publishing the optime', () => {
    const d = decide(leaderSnapshot({ local: runningPrimary({ lsn: 67_395_656 }) }));
    expect(summary(d)).toEqual({ rule: 'leader-with-lock', reason: 'no action. I am (pg0), the leader with the lock', actions: ['renew_lock'] });
    const renew = actionOf(d, 'renew_lock');
    expect(renew.status).toEqual({ optime: 67_395_656, slots: {}, retain_slots: [] });
    expect(renew.otherwise?.reason).toBe('demoted self because failed to update leader lock in DCS');
    expect(renew.otherwise?.actions).toMatchObject([{ kind: 'demote', mode: 'immediate-nolock' }]);
    expect(renew.onError?.actions).toEqual([]);
    expect(d.member).toMatchObject({ role: 'primary', state: 'running', xlog_location: 67_395_656, timeline: 1 });
  });

  it('a replica holding the lock promotes (after renewing and arming the watchdog)', () => {
    const d = decide(leaderSnapshot({ local: runningReplica({ following: null }) }));
    expect(summary(d)).toEqual({
      rule: 'leader-with-lock',
      reason: 'promoted self to leader because I had the session lock',
      actions: ['renew_lock', 'activate_watchdog', 'promote'],
    });
    expect(actionOf(d, 'renew_lock').otherwise?.reason).toBe('not promoting because failed to update leader lock in DCS');
    expect(actionOf(d, 'activate_watchdog').otherwise).toEqual({
      code: 'watchdog.not-promoting',
      reason: 'Not promoting self because watchdog could not be activated',
      actions: [{ kind: 'release_lock' }],
    });
  });
});

describe('timeline history', () => {
  it('is written after a promotion to timeline 2', () => {
    const d = decide(leaderSnapshot({ local: runningPrimary({ timeline: 2 }) }));
    expect(summary(d).actions).toEqual(['renew_lock', 'write_history']);
    expect(actionOf(d, 'write_history')).toEqual({ kind: 'write_history', expectVersion: null, newLeader: 'pg0', maxLines: 0 });
  });

  it('is left alone once it has the switch to our timeline with our name', () => {
    const cluster = clusterWithLeader({ history: [{ timeline: 1, lsn: 100, reason: 'no recovery target specified', timestamp: 't', new_leader: 'pg0' }] });
    const d = decide(leaderSnapshot({ cluster, local: runningPrimary({ timeline: 2 }) }));
    expect(summary(d).actions).toEqual(['renew_lock']);
  });

  it('is rewritten when the last line lacks the new leader (written by an older writer)', () => {
    const cluster = clusterWithLeader({ history: [{ timeline: 1, lsn: 100, reason: 'no recovery target specified' }] });
    const d = decide(leaderSnapshot({ cluster, local: runningPrimary({ timeline: 2 }) }));
    expect(actionOf(d, 'write_history').expectVersion).toBe('5');
  });

  it('is cleared on timeline 1', () => {
    const cluster = clusterWithLeader({ history: [{ timeline: 1, lsn: 100, reason: 'x' }] });
    expect(summary(decide(leaderSnapshot({ cluster }))).actions).toEqual(['renew_lock', 'write_history']);
  });
});

describe('switchover and failover requests', () => {
  it('first asks the candidates for their positions', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' } });
    const d = decide(leaderSnapshot({ cluster }));
    expect(summary(d)).toEqual({ rule: 'leader-with-lock', reason: 'switchover: checking the candidates', actions: ['probe_peers(pg1,pg2)'] });
    expect(d.member).toBeNull();
  });

  it('demotes gracefully when the candidate is healthy', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' } });
    const d = decide(leaderSnapshot({ cluster, peers: allPeers }));
    expect(summary(d)).toEqual({ rule: 'leader-with-lock', reason: 'switchover: demoting myself', actions: ['renew_lock', 'demote(graceful)'] });
    expect(actionOf(d, 'demote')).toMatchObject({ mode: 'graceful', follow: null, label: 'switchover: demote' });
  });

  it('a failover request without a candidate may go to any healthy member', () => {
    const cluster = clusterWithLeader({ failover: { member: '' , leader: 'pg0' } });
    const d = decide(leaderSnapshot({ cluster, peers: [peer('pg1', { reachable: false }), peer('pg2')] }));
    expect(d.reason).toBe('switchover: demoting myself');
  });

  it('clears the request when the candidate is unreachable', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' } });
    const d = decide(leaderSnapshot({ cluster, peers: [peer('pg1', { reachable: false }), peer('pg2')] }));
    expect(summary(d)).toEqual({
      rule: 'leader-with-lock',
      reason: 'no action. I am (pg0), the leader with the lock',
      actions: ['renew_lock', 'clear_failover'],
    });
    expect(d.notes).toEqual([
      'Member pg1 is not reachable',
      'no healthy members found',
      'switchover: no healthy members found, switchover is not possible',
      'Cleaning up failover key',
    ]);
    expect(actionOf(d, 'clear_failover').expectVersion).toBe('6');
  });

  it('clears the request when the candidate lags too far', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' }, optime: 100_000_000 });
    const d = decide(leaderSnapshot({ cluster, peers: [peer('pg1', { walPosition: 1_000 }), peer('pg2')] }));
    expect(d.notes).toContain('Member pg1 exceeds maximum replication lag');
    expect(summary(d).actions).toEqual(['renew_lock', 'clear_failover']);
  });

  it('clears a request naming another leader', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg2', member: 'pg1' } });
    const d = decide(leaderSnapshot({ cluster }));
    expect(summary(d).actions).toEqual(['renew_lock', 'clear_failover']);
    expect(d.notes[0]).toBe('switchover: leader name does not match: pg2 != pg0');
  });

  it('clears a failover to itself', () => {
    const cluster = clusterWithLeader({ failover: { member: 'pg0' } });
    const d = decide(leaderSnapshot({ cluster }));
    expect(d.notes[0]).toBe('manual failover: I am already the leader, no need to manual failover');
    expect(summary(d).actions).toEqual(['renew_lock', 'clear_failover']);
  });

  it('waits for a scheduled switchover and asks to be woken in time', () => {
    const at = new Date(WALL_NOW + 3_600_000).toISOString();
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1', scheduled_at: at } });
    const d = decide(leaderSnapshot({ cluster, peers: allPeers }));
    expect(summary(d)).toEqual({ rule: 'leader-with-lock', reason: 'no action. I am (pg0), the leader with the lock', actions: ['renew_lock'] });
    expect(d.notes).toEqual([`Awaiting switchover at ${at} (in 3600 seconds)`]);
    expect(d.wakeAfterMs).toBe(3_600_000);
  });

  it('runs a scheduled switchover once its time has come', () => {
    const at = new Date(WALL_NOW - 2_000).toISOString();
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1', scheduled_at: at } });
    const d = decide(leaderSnapshot({ cluster, peers: allPeers }));
    expect(d.reason).toBe('switchover: demoting myself');
    expect(d.notes[0]).toBe(`Manual scheduled switchover at ${at}`);
  });

  it('drops a switchover scheduled too long ago', () => {
    const at = new Date(WALL_NOW - 60_000).toISOString();
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1', scheduled_at: at } });
    const d = decide(leaderSnapshot({ cluster }));
    expect(summary(d).actions).toEqual(['renew_lock', 'clear_failover']);
    expect(d.notes[0]).toBe(`Found a stale switchover value, cleaning up: ${at}`);
  });

  it('drops an unreadable scheduled_at', () => {
    const cluster = clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1', scheduled_at: 'tomorrow-ish' } });
    const d = decide(leaderSnapshot({ cluster }));
    expect(d.notes[0]).toBe('Incorrect value of scheduled_at: tomorrow-ish');
    expect(summary(d).actions).toEqual(['renew_lock', 'clear_failover']);
  });
});

describe('a crashed primary still starting', () => {
  const starting = runningPrimary({ state: 'starting' });

  it('waits while primary_start_timeout has not passed', () => {
    const d = decide(leaderSnapshot({ local: starting, memory: { primaryStartDeadline: NOW + 42_500, rewindFailed: null, outcomeSeen: null } }));
    expect(summary(d)).toEqual({
      rule: 'primary-starting',
      reason: 'PostgreSQL is still starting up, 43 seconds until timeout',
      actions: ['renew_lock'],
    });
    expect(actionOf(d, 'renew_lock').otherwise?.reason).toBe('stopped PostgreSQL while starting up because leader key was lost');
  });

  it('fails over after the timeout when another member can take over', () => {
    const s = leaderSnapshot({ local: starting, memory: { primaryStartDeadline: NOW - 1, rewindFailed: null, outcomeSeen: null } });
    expect(summary(decide(s)).actions).toEqual(['probe_peers(pg1,pg2)']);
    const d = decide({ ...s, peers: allPeers });
    expect(summary(d)).toEqual({
      rule: 'primary-starting',
      reason: 'stopped PostgreSQL because of startup timeout',
      actions: ['renew_lock', 'demote(immediate)'],
    });
    expect(d.memory.primaryStartDeadline).toBeNull();
  });

  it('keeps waiting after the timeout when nobody can take over', () => {
    const s = leaderSnapshot({ local: starting, memory: { primaryStartDeadline: NOW - 1, rewindFailed: null, outcomeSeen: null } });
    const d = decide({ ...s, peers: [peer('pg1', { reachable: false }), peer('pg2', { tags: { nofailover: true } })] });
    expect(d.reason).toBe('primary start has timed out, but continuing to wait because failover is not possible');
    expect(summary(d).actions).toEqual(['renew_lock']);
  });
});
