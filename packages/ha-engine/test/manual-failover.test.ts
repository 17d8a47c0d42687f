// The checks a switchover / failover request passes before it is recorded (core/manual-failover.ts;
// moved from the REST API, issue #19), in Patroni's API wording.
import { describe, expect, it } from 'vitest';
import type { Cluster } from '@pgha/dcs';
import { manualFailoverProblem, mayTakeOver, pausedRequestProblem } from '../src/index.js';
import { clusterWithLeader, member } from './fixtures/snapshots.js';

const base = clusterWithLeader();
const withConfig = (c: Cluster, value: Record<string, unknown>): Cluster => ({ ...c, config: { value, version: '1' } });
const withSync = (c: Cluster, standbys: string[]): Cluster => ({ ...c, sync: { value: { leader: 'pg0', sync_standby: standbys, quorum: 0 }, version: '1' } });
const syncOn = withConfig(base, { synchronous_mode: true });

describe('manualFailoverProblem', () => {
  it('accepts a switchover from the leader to a member, or to whoever is best', () => {
    expect(manualFailoverProblem(base, { leader: 'pg0', candidate: 'pg1' }, 'switchover')).toBeNull();
    expect(manualFailoverProblem(base, { leader: 'pg0' }, 'switchover')).toBeNull();
    expect(manualFailoverProblem(base, { candidate: 'pg2' }, 'failover')).toBeNull();
  });

  it('refuses a leader that does not hold the lock, and a candidate that is not a member', () => {
    expect(manualFailoverProblem(base, { leader: 'pg1', candidate: 'pg2' }, 'switchover')).toBe('leader name does not match');
    expect(manualFailoverProblem(base, { leader: 'pg0', candidate: 'pg9' }, 'switchover')).toBe('candidate does not exists');
  });

  it('in synchronous mode, switches over only to a listed synchronous standby (a failover may pick any member)', () => {
    expect(manualFailoverProblem(withSync(syncOn, ['pg2']), { leader: 'pg0', candidate: 'pg1' }, 'switchover')).toBe('candidate name does not match with sync_standby');
    expect(manualFailoverProblem(withSync(syncOn, ['pg2']), { leader: 'pg0', candidate: 'pg2' }, 'switchover')).toBeNull();
    expect(manualFailoverProblem(withSync(syncOn, ['pg2']), { candidate: 'pg1' }, 'failover')).toBeNull();
    expect(manualFailoverProblem(withSync(withConfig(base, { synchronous_mode: 'quorum' }), []), { leader: 'pg0', candidate: 'pg1' }, 'switchover')).toBe(
      'candidate name does not match with sync_standby',
    );
  });

  it('without a candidate, synchronous mode needs a published synchronous standby', () => {
    expect(manualFailoverProblem(withSync(syncOn, []), { leader: 'pg0' }, 'switchover')).toBe('switchover is not possible: can not find sync_standby');
    expect(manualFailoverProblem(syncOn, { leader: 'pg0' }, 'switchover')).toBe('switchover is not possible: can not find sync_standby');
    expect(manualFailoverProblem(withSync(syncOn, ['pg1']), { leader: 'pg0' }, 'switchover')).toBeNull();
    // An unreadable mode is off, as the engine reads it.
    expect(manualFailoverProblem(withConfig(base, { synchronous_mode: 'maybe' }), { leader: 'pg0' }, 'switchover')).toBeNull();
  });

  it('without a candidate, needs another member that may take over (not nofailover, with an API)', () => {
    const lone = clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1', { tags: { nofailover: true } }), member('pg2', { tags: { failover_priority: 0 } })] });
    expect(manualFailoverProblem(lone, { leader: 'pg0' }, 'switchover')).toBe('switchover is not possible: cluster does not have members except leader');
    const noApi = clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1', { api_url: '' })] });
    expect(manualFailoverProblem(noApi, { leader: 'pg0' }, 'switchover')).toBe('switchover is not possible: cluster does not have members except leader');
  });
});

describe('mayTakeOver', () => {
  it('is the leader race’s own filter: not nofailover, an API to probe', () => {
    expect(mayTakeOver(member('pg1'))).toBe(true);
    expect(mayTakeOver(member('pg1', { tags: { nofailover: 'yes' } }))).toBe(false);
    expect(mayTakeOver(member('pg1', { tags: { nofailover: false, failover_priority: 0 } }))).toBe(true);
    expect(mayTakeOver(member('pg1', { api_url: '' }))).toBe(false);
  });
});

describe('pausedRequestProblem', () => {
  const paused = withConfig(base, { pause: true });
  it('in maintenance mode, refuses a schedule and a request without a candidate', () => {
    expect(pausedRequestProblem(paused, { leader: 'pg0', candidate: 'pg1', scheduled: true })).toBe("Can't schedule switchover in the paused state");
    expect(pausedRequestProblem(paused, { leader: 'pg0', scheduled: false })).toBe('Switchover is possible only to a specific candidate in a paused state');
    expect(pausedRequestProblem(paused, { leader: 'pg0', candidate: 'pg1', scheduled: false })).toBeNull();
  });

  it('lets anything through when not paused', () => {
    expect(pausedRequestProblem(base, { leader: 'pg0', scheduled: true })).toBeNull();
  });
});
