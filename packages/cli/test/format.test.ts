// The formatter against output captured from patronictl 3.0.2 on the same DCS content (only the
// title differs: pghactl names the system identifier, as Patroni 3.1+ does).
import { describe, expect, it } from 'vitest';
import { decodeCluster } from '@pgha/dcs';
import { membersTable } from '../src/cluster-view.ts';
import { render } from '../src/output.ts';
import { drawTable } from '../src/table.ts';
import { unifiedDiff } from '../src/unified-diff.ts';
import { pythonJson, pythonYaml, roundHalfEven } from '../src/python-text.ts';

function rawCluster(nodes: Record<string, string>) {
  return decodeCluster({ nodes: new Map(Object.entries(nodes).map(([k, v]) => [k, { value: v, version: '1' }])) });
}

const cluster = rawCluster({
  initialize: '7300000000000000001',
  config: '{"ttl":30,"loop_wait":10,"pause":true,"synchronous_mode":true}',
  leader: 'pg0',
  'members/pg0': '{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://127.0.0.1:8009/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":50331648,"timeline":2}',
  'members/pg1':
    '{"conn_url":"postgres://127.0.0.1:5434/postgres","api_url":"http://127.0.0.1:8010/patroni","state":"running","role":"replica","version":"3.0.2","xlog_location":33554432,"timeline":2,"tags":{"nofailover":true,"replicatefrom":"pg2"},"pending_restart":true}',
  'members/pg2': '{"conn_url":"postgres://127.0.0.1:5435/postgres","api_url":"http://127.0.0.1:8011/patroni","state":"streaming","role":"replica","version":"3.0.2","timeline":2}',
  sync: '{"leader":"pg0","sync_standby":"pg2"}',
  status: '{"optime":50331648}',
  failover: '{"leader":"pg0","member":"pg2","scheduled_at":"2030-01-01T10:00:00+00:00"}',
});

const plain = { color: false };

describe('cluster table', () => {
  it('draws list as patronictl 3.0.2 does: multi-line tags, rules between rows, footers', () => {
    expect(render(membersTable(cluster, { name: 'demo', format: 'pretty' }), plain)).toBe(
      [
        '+ Cluster: demo (7300000000000000001) ---+-----------+----+-----------+-----------------+--------------------+',
        '| Member | Host           | Role         | State     | TL | Lag in MB | Pending restart | Tags               |',
        '+--------+----------------+--------------+-----------+----+-----------+-----------------+--------------------+',
        '| pg0    | 127.0.0.1:5433 | Leader       | running   |  2 |           |                 |                    |',
        '+--------+----------------+--------------+-----------+----+-----------+-----------------+--------------------+',
        '| pg1    | 127.0.0.1:5434 | Replica      | running   |  2 |        16 | *               | nofailover: true   |',
        '|        |                |              |           |    |           |                 | replicatefrom: pg2 |',
        '+--------+----------------+--------------+-----------+----+-----------+-----------------+--------------------+',
        '| pg2    | 127.0.0.1:5435 | Sync Standby | streaming |  2 |   unknown |                 |                    |',
        '+--------+----------------+--------------+-----------+----+-----------+-----------------+--------------------+',
        ' Maintenance mode: on',
        ' Switchover scheduled at: 2030-01-01T10:00:00+00:00',
        '                    from: pg0',
        '                      to: pg2',
        '',
      ].join('\n'),
    );
  });

  it('draws topology as a cascade under replicatefrom, tags in flow style', () => {
    const text = render(membersTable(cluster, { name: 'demo', format: 'topology' }), plain);
    expect(text.split('\n').slice(3, 6)).toEqual([
      '| pg0     | 127.0.0.1:5433 | Leader       | running   |  2 |           |                 |                                        |',
      '| + pg2   | 127.0.0.1:5435 | Sync Standby | streaming |  2 |   unknown |                 |                                        |',
      '|   + pg1 | 127.0.0.1:5434 | Replica      | running   |  2 |        16 | *               | {nofailover: true, replicatefrom: pg2} |',
    ]);
  });

  it('prints tsv with the Cluster column and no footer', () => {
    expect(render(membersTable(cluster, { name: 'demo', format: 'tsv' }), plain)).toBe(
      [
        'Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tPending restart\tTags',
        'demo\tpg0\t127.0.0.1:5433\tLeader\trunning\t2\t\t\t',
        'demo\tpg1\t127.0.0.1:5434\tReplica\trunning\t2\t16\t*\t{nofailover: true, replicatefrom: pg2}',
        'demo\tpg2\t127.0.0.1:5435\tSync Standby\tstreaming\t2\tunknown\t\t',
        '',
      ].join('\n'),
    );
  });

  it('prints json with Python separators, dropping empty cells', () => {
    expect(render(membersTable(cluster, { name: 'demo', format: 'json' }), plain)).toBe(
      '[{"Cluster": "demo", "Member": "pg0", "Host": "127.0.0.1:5433", "Role": "Leader", "State": "running", "TL": 2}, ' +
        '{"Cluster": "demo", "Member": "pg1", "Host": "127.0.0.1:5434", "Role": "Replica", "State": "running", "TL": 2, "Lag in MB": 16, "Pending restart": "*", "Tags": {"nofailover": true, "replicatefrom": "pg2"}}, ' +
        '{"Cluster": "demo", "Member": "pg2", "Host": "127.0.0.1:5435", "Role": "Sync Standby", "State": "streaming", "TL": 2, "Lag in MB": "unknown"}]\n',
    );
  });

  it('prints yaml with sorted keys and quoted scalars, as safe_dump does', () => {
    const text = render(membersTable(cluster, { name: 'demo', format: 'yaml' }), plain);
    expect(text.split('\n').slice(6, 17)).toEqual([
      '- Cluster: demo',
      '  Host: 127.0.0.1:5434',
      '  Lag in MB: 16',
      '  Member: pg1',
      "  Pending restart: '*'",
      '  Role: Replica',
      '  State: running',
      '  TL: 2',
      '  Tags:',
      '    nofailover: true',
      '    replicatefrom: pg2',
    ]);
    expect(text.endsWith('\n\n')).toBe(true);
  });

  it('shows an uninitialized empty cluster with header and two rules, hosts without the default port', () => {
    const empty = rawCluster({ 'members/a': '{"conn_url":"postgres://10.0.0.1:5432/postgres","role":"replica","state":"running"}' });
    const text = render(membersTable(empty, { name: 'x', format: 'pretty' }), plain);
    expect(text).toBe(
      [
        '+ Cluster: x (uninitialized) -+---------+----+-----------+',
        '| Member | Host     | Role    | State   | TL | Lag in MB |',
        '+--------+----------+---------+---------+----+-----------+',
        '| a      | 10.0.0.1 | Replica | running |    |   unknown |',
        '+--------+----------+---------+---------+----+-----------+',
        '',
      ].join('\n'),
    );
  });
});

describe('table and text primitives', () => {
  it('draws an empty table as header plus two rules', () => {
    expect(drawTable({ columns: ['TL', 'LSN'], rows: [], align: { TL: 'r' } })).toBe('+----+-----+\n| TL | LSN |\n+----+-----+\n+----+-----+');
  });

  it('rounds lag like Python and dumps JSON like json.dumps', () => {
    expect([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.4)]).toEqual([0, 2, 2]);
    expect(pythonJson({ a: [1, 'é'], b: null })).toBe('{"a": [1, "\\u00e9"], "b": null}');
    expect(pythonYaml({ b: 1, a: { list: ['x', 'y'] } })).toBe('a:\n  list:\n  - x\n  - y\nb: 1\n');
  });

  it('shows a unified diff like difflib, and colours it only on a terminal', () => {
    const lines = unifiedDiff('a: 1\nb: 2\nc: 3\n', 'a: 1\nb: 5\nc: 3\nd: 4\n');
    expect(lines).toEqual(['--- ', '+++ ', '@@ -1,3 +1,4 @@', ' a: 1', '-b: 2', '+b: 5', ' c: 3', '+d: 4']);
    expect(render({ kind: 'diff', lines }, { color: false })).not.toContain('\u001b[');
    expect(render({ kind: 'diff', lines }, { color: true })).toContain('\u001b[31m-b: 2');
    expect(unifiedDiff('same\n', 'same\n')).toEqual([]);
  });
});
