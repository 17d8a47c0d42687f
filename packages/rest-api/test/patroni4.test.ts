// Patroni 4 renamed a primary's role `master` to `primary` (pgha issue #17): what the API says
// follows the dialect the agent speaks, and what it reads accepts both.
import { describe, expect, it } from 'vitest';
import { clusterView } from '../src/cluster-view.js';
import { healthStatus } from '../src/health.js';
import { renderPatroniMetrics } from '../src/metrics.js';
import { cluster, member, snapshot } from './fixtures.js';

const q = (s = '') => new URLSearchParams(s);
const leader = (role: 'master' | 'primary', dialect: 3 | 4) =>
  snapshot({ role, patroni: { version: '3.0.2', scope: 'demo', name: 'pg0' } }, { hasLock: true, patroniDialect: dialect });

function metricNames(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!);
}

describe('Patroni 3 and 4 names in the REST API', () => {
  it('answers every primary health check for a leader whose role is spelled either way', () => {
    for (const role of ['master', 'primary'] as const) {
      for (const path of ['/', '/primary', '/master', '/read-write', '/leader', '/read-only', '/read-only-sync', '/read-only-synchronous']) {
        expect([role, path, healthStatus(path, q(), leader(role, role === 'master' ? 3 : 4), 0)]).toEqual([role, path, 200]);
      }
      expect(healthStatus('/replica', q(), leader(role, 3), 0)).toBe(503);
    }
  });

  it('reports patroni_master beside patroni_primary when speaking 3, and only patroni_primary when speaking 4', () => {
    const three = renderPatroniMetrics(leader('master', 3));
    expect(metricNames(three)).toContain('patroni_master');
    expect(three).toContain('patroni_master{scope="demo",name="pg0"} 1');
    expect(three).toContain('patroni_primary{scope="demo",name="pg0"} 1');

    const four = renderPatroniMetrics(leader('primary', 4));
    expect(metricNames(four)).not.toContain('patroni_master');
    expect(four).toContain('patroni_primary{scope="demo",name="pg0"} 1');
    // Everything else is the same list, in the same order.
    expect(metricNames(four)).toEqual(metricNames(three).filter((n) => n !== 'patroni_master'));
  });

  it('counts a 3.x-spelled leader as primary in the metrics whatever the dialect (a snapshot built before the switch)', () => {
    expect(renderPatroniMetrics(leader('master', 4))).toContain('patroni_primary{scope="demo",name="pg0"} 1');
    expect(renderPatroniMetrics(leader('primary', 3))).toContain('patroni_master{scope="demo",name="pg0"} 1');
  });

  it('defaults to 3 when the snapshot does not say', () => {
    const { patroniDialect: _omitted, ...withoutDialect } = leader('master', 3);
    expect(metricNames(renderPatroniMetrics({ ...withoutDialect, cluster: cluster() }))).toContain('patroni_master');
  });
});

describe("GET /cluster: Patroni 4.1's positions per member", () => {
  it('shows receive, replay and current LSN with their lag behind the leader, unknown where the key has none', () => {
    const view = clusterView(
      cluster({
        status: { version: '1', value: { optime: 0x3000100, slots: {}, retain_slots: [] } },
        members: [
          member('pg0', { role: 'primary', xlog_location: 0x3000100 }),
          member('pg1', { xlog_location: 0x3000060, receive_lsn: 0x3000060, replay_lsn: 0x3000000, pending_restart: true, pending_restart_reason: { max_connections: { old_value: '100', new_value: '200' } } }),
          member('pg2', { state: 'stopped' }),
        ],
      }),
      'demo',
    );
    const [pg0, pg1, pg2] = view.members;
    expect(pg0).not.toHaveProperty('lsn');
    expect(pg0).not.toHaveProperty('lag');
    expect(pg1).toMatchObject({
      receive_lsn: '0/3000060',
      receive_lag: 0xa0,
      replay_lsn: '0/3000000',
      replay_lag: 0x100,
      lsn: '0/3000060',
      lag: 0xa0,
      pending_restart: true,
      pending_restart_reason: { max_connections: { old_value: '100', new_value: '200' } },
    });
    expect(pg2).toMatchObject({ receive_lsn: 'unknown', receive_lag: 'unknown', replay_lsn: 'unknown', replay_lag: 'unknown', lsn: 'unknown', lag: 'unknown' });
  });
});
