// Patroni 4 renamed a primary's role `master` to `primary` (pgha issue #17): what the API says
// follows the dialect the agent speaks, and what it reads accepts both.
import { describe, expect, it } from 'vitest';
import { healthStatus } from '../src/health.js';
import { renderPatroniMetrics } from '../src/metrics.js';
import { cluster, snapshot } from './fixtures.js';

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
