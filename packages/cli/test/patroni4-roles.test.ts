// A Patroni 4 leader writes its role as `primary` where 3.x wrote `master` (pgha issue #17):
// pghactl reads both alike.
import { describe, expect, it } from 'vitest';
import { decodeCluster } from '@pgha/dcs';
import { membersTable, membersWithRole } from '../src/cluster-view.ts';
import { render } from '../src/output.ts';

function clusterWithLeaderRole(role: string, version: string) {
  const nodes = {
    initialize: '7300000000000000001',
    leader: 'pg0',
    'members/pg0': JSON.stringify({ conn_url: 'postgres://127.0.0.1:5433/postgres', api_url: 'http://127.0.0.1:8009/patroni', state: 'running', role, version, xlog_location: 50331648, timeline: 2 }),
    'members/pg1': JSON.stringify({ conn_url: 'postgres://127.0.0.1:5434/postgres', api_url: 'http://127.0.0.1:8010/patroni', state: 'running', role: 'replica', version, xlog_location: 50331648, timeline: 2 }),
  };
  return decodeCluster({ nodes: new Map(Object.entries(nodes).map(([k, v]) => [k, { value: v, version: '1' }])) });
}

describe('leader roles of Patroni 3 and 4', () => {
  it.each([
    ['master', '3.0.2'],
    ['primary', '4.1.0'],
  ])('finds a leader whose key says role %s (Patroni %s) for every leader role, and lists it as Leader', (role, version) => {
    const cluster = clusterWithLeaderRole(role, version);
    for (const choice of ['leader', 'primary', 'master'] as const) expect(membersWithRole(cluster, choice).map((m) => m.name)).toEqual(['pg0']);
    expect(membersWithRole(cluster, 'standby-leader')).toEqual([]);
    expect(membersWithRole(cluster, 'replica').map((m) => m.name)).toEqual(['pg1']);
    const tsv = render(membersTable(cluster, { name: 'demo', format: 'tsv' }), { color: false });
    expect(tsv.split('\n')[1]).toBe('demo\tpg0\t127.0.0.1:5433\tLeader\trunning\t2\t');
  });
});
