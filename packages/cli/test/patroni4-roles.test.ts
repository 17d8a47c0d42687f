// A Patroni 4 leader writes its role as `primary` where 3.x wrote `master` (pgha issue #17):
// pghactl reads both alike.
import { describe, expect, it } from 'vitest';
import { decodeCluster } from '@pgha/dcs';
import { listDialect, membersTable, membersWithRole } from '../src/cluster-view.ts';
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

describe("list as patronictl 4.1 shows a cluster speaking Patroni 4", () => {
  const cluster = decodeCluster({
    nodes: new Map(
      Object.entries({
        initialize: '7300000000000000001',
        leader: 'pg0',
        status: '{"optime":67108864}',
        'members/pg0': '{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://127.0.0.1:8009/patroni","state":"running","role":"primary","version":"4.1.0","xlog_location":67108864,"timeline":2}',
        'members/pg1':
          '{"conn_url":"postgres://127.0.0.1:5434/postgres","api_url":"http://127.0.0.1:8010/patroni","state":"running","role":"replica","version":"4.1.0","xlog_location":50331648,"receive_lsn":50331648,"replay_lsn":33554432,"replication_state":"streaming","timeline":2,"pending_restart":true,"pending_restart_reason":{"max_connections":{"old_value":"100","new_value":"200"}}}',
        'members/pg2': '{"conn_url":"postgres://127.0.0.1:5435/postgres","api_url":"http://127.0.0.1:8011/patroni","state":"running","role":"replica","version":"3.0.2","xlog_location":62914560,"timeline":2}',
      }).map(([k, v]) => [k, { value: v, version: '1' }]),
    ),
  });

  it('detects 4 from the members, unless the configuration says otherwise', () => {
    expect(listDialect(cluster, undefined)).toBe(4);
    expect(listDialect(cluster, 3)).toBe(3);
    expect(listDialect(clusterWithLeaderRole('master', '3.0.2'), undefined)).toBe(3);
    expect(listDialect(clusterWithLeaderRole('master', '3.0.2'), '4')).toBe(4);
    expect(listDialect(clusterWithLeaderRole('master', '3.0.2'), 'auto')).toBe(3);
  });

  it('shows receive and replay positions with their lag in MB, the replication state, and the pending restart reason', () => {
    expect(render(membersTable(cluster, { name: 'demo', format: 'tsv', patroniDialect: 4 }), { color: false })).toBe(
      [
        'Cluster\tMember\tHost\tRole\tState\tTL\tReceive LSN\tReceive Lag\tReplay LSN\tReplay Lag\tPending restart\tPending restart reason',
        'demo\tpg0\t127.0.0.1:5433\tLeader\trunning\t2\t\t\t\t\t\t',
        'demo\tpg1\t127.0.0.1:5434\tReplica\tstreaming\t2\t0/3000000\t16\t0/2000000\t32\t*\tmax_connections: 100->200',
        // A member key with only xlog_location (before 4.1), not streaming: under replay.
        'demo\tpg2\t127.0.0.1:5435\tReplica\trunning\t2\tunknown\t\t0/3C00000\t4\t\t',
        '',
      ].join('\n'),
    );
  });

  it('heads both lag columns `Lag` in a drawn table, right-aligned with the LSNs', () => {
    expect(render(membersTable(cluster, { name: 'demo', format: 'pretty', patroniDialect: 4 }), { color: false }).split('\n').slice(1, 4)).toEqual([
      '| Member | Host           | Role    | State     | TL | Receive LSN | Lag | Replay LSN | Lag | Pending restart | Pending restart reason    |',
      '+--------+----------------+---------+-----------+----+-------------+-----+------------+-----+-----------------+---------------------------+',
      '| pg0    | 127.0.0.1:5433 | Leader  | running   |  2 |             |     |            |     |                 |                           |',
    ]);
  });
});

describe('Quorum Standby (patronictl 4.1)', () => {
  function syncCluster(mode: string) {
    const nodes = {
      initialize: '7300000000000000001',
      leader: 'pg0',
      config: JSON.stringify({ synchronous_mode: mode === 'quorum' ? 'quorum' : true }),
      sync: JSON.stringify({ leader: 'pg0', sync_standby: 'pg1', quorum: mode === 'quorum' ? 1 : 0 }),
      'members/pg0': JSON.stringify({ conn_url: 'postgres://127.0.0.1:5433/postgres', state: 'running', role: 'primary', version: '4.1.0', xlog_location: 50331648, timeline: 2 }),
      'members/pg1': JSON.stringify({ conn_url: 'postgres://127.0.0.1:5434/postgres', state: 'running', role: 'replica', version: '4.1.0', xlog_location: 50331648, timeline: 2 }),
      'members/pg2': JSON.stringify({ conn_url: 'postgres://127.0.0.1:5435/postgres', state: 'running', role: 'replica', version: '4.1.0', xlog_location: 50331648, timeline: 2 }),
    };
    return decodeCluster({ nodes: new Map(Object.entries(nodes).map(([k, v]) => [k, { value: v, version: '1' }])) });
  }
  const roles = (mode: string) =>
    render(membersTable(syncCluster(mode), { name: 'demo', format: 'tsv' }), { color: false })
      .split('\n')
      .slice(1, 4)
      .map((line) => line.split('\t')[3]);

  it('lists a member of the quorum set as Quorum Standby in quorum mode, Sync Standby in on mode', () => {
    expect(roles('quorum')).toEqual(['Leader', 'Quorum Standby', 'Replica']);
    expect(roles('on')).toEqual(['Leader', 'Sync Standby', 'Replica']);
  });
});
