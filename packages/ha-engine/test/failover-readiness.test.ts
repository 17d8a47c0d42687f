// Could the cluster fail over if its leader died now (issue #22): what `pghactl list` and
// GET /cluster say, for each synchronous mode and each gate that excludes a member.
import type { Cluster } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import { failoverReadiness } from '../src/index.js';
import { clusterWithLeader, config, member } from './fixtures/snapshots.js';

function withSync(cluster: Cluster, standbys: string[], quorum = 0): Cluster {
  return { ...cluster, sync: { value: { leader: 'pg0', sync_standby: standbys, quorum }, version: '7' } };
}

const readiness = (cluster: Cluster, dynamic: Record<string, unknown> = {}) => failoverReadiness(cluster, config(dynamic));

describe('automatic failover readiness', () => {
  it('asynchronous: every running, caught-up replica could take over', () => {
    const r = readiness(clusterWithLeader());
    expect(r).toMatchObject({ possible: true, candidates: ['pg1', 'pg2'], reason: 'pg1, pg2 could take over' });
  });

  it('synchronous mode on: only the standby the sync key names', () => {
    const r = readiness(withSync(clusterWithLeader(), ['pg1']), { synchronous_mode: true });
    expect(r.candidates).toEqual(['pg1']);
    expect(r.members).toContainEqual({ name: 'pg2', excludedBy: 'not a synchronous standby' });
  });

  it('synchronous mode on and the key names no standby yet: nobody, and the sentence says why', () => {
    for (const mode of [true, 'quorum']) {
      const r = readiness(withSync(clusterWithLeader(), []), { synchronous_mode: mode });
      expect(r.possible).toBe(false);
      expect(r.reason).toMatch(/sync key names no standby: no member is known to hold every acknowledged commit/);
    }
  });

  it('strict mode with a published standby: that standby, as in on mode', () => {
    const r = readiness(withSync(clusterWithLeader(), ['pg2']), { synchronous_mode: true, synchronous_mode_strict: true });
    expect(r.candidates).toEqual(['pg2']);
  });

  it('quorum: a listed standby needs enough other listed standbys running to vote for it', () => {
    const members = [member('pg0', { role: 'primary' }), member('pg1'), member('pg2', { state: 'stopped' })];
    const r = readiness(withSync(clusterWithLeader({ members }), ['pg1', 'pg2'], 1), { synchronous_mode: 'quorum' });
    expect(r.possible).toBe(false);
    expect(r.members).toEqual([
      { name: 'pg1', excludedBy: 'needs 1 quorum votes, 0 other listed standbys running' },
      { name: 'pg2', excludedBy: 'its state is stopped' },
    ]);
    const both = readiness(withSync(clusterWithLeader(), ['pg1', 'pg2'], 1), { synchronous_mode: 'quorum' });
    expect(both.candidates).toEqual(['pg1', 'pg2']);
  });

  it('nofailover, failover_priority 0, lag over the limit and a timeline behind each exclude, named in the reason', () => {
    const members = [
      member('pg0', { role: 'primary', timeline: 2 }),
      member('pg1', { tags: { nofailover: true }, timeline: 2 }),
      member('pg2', { tags: { failover_priority: 0 }, timeline: 2 }),
      member('pg3', { xlog_location: 1000, timeline: 2 }),
      member('pg4', { timeline: 1 }),
    ];
    const cluster = { ...clusterWithLeader({ members, history: [{ timeline: 1, lsn: 100, reason: 'failover' }] }) };
    const r = readiness(cluster, { maximum_lag_on_failover: 1_048_576, check_timeline: true });
    expect(r.possible).toBe(false);
    expect(r.members.map((m) => m.excludedBy)).toEqual([
      'tagged nofailover',
      'failover_priority is 0',
      `lags ${50_331_648 - 1000} bytes, over maximum_lag_on_failover (1048576)`,
      "timeline 1 behind the cluster's 2",
    ]);
    expect(r.reason).toMatch(/^no member could take over: pg1 tagged nofailover; pg2 failover_priority is 0; pg3 lags/);
  });

  it('maintenance mode: no automatic failover, whoever is healthy', () => {
    const r = readiness(clusterWithLeader(), { pause: true });
    expect(r).toMatchObject({ possible: false, reason: 'maintenance mode: no automatic failover', candidates: ['pg1', 'pg2'] });
  });

  it('a single member has nobody to fail over to', () => {
    const r = readiness(clusterWithLeader({ members: [member('pg0', { role: 'primary' })] }));
    expect(r).toMatchObject({ possible: false, reason: 'no other member' });
  });
});
