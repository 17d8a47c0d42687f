import {
  parseConnUrl,
  decodeCluster,
  parseConfig,
  parseFailover,
  parseFailsafe,
  parseHistory,
  parseLegacyOptime,
  parseMemberData,
  parseStatus,
  parseSync,
  serializeConfig,
  serializeFailover,
  serializeHistory,
  serializeMemberData,
  serializeStatus,
  serializeSync,
  jsonNestingDepth,
  MAX_JSON_DEPTH,
  toPatroniJson,
} from '@pgha/dcs';
import type { MemberData, RawCluster } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';

/** A load result from literal key → value pairs, versions 1, 2, 3, ... */
function raw(entries: Record<string, string>): RawCluster {
  return { nodes: new Map(Object.entries(entries).map(([k, value], i) => [k, { value, version: String(i + 1) }])) };
}

// Values as Patroni writes them (3.0.2 unless noted).
const PATRONI_PRIMARY =
  '{"conn_url":"postgres://10.0.0.11:5432/postgres","api_url":"http://10.0.0.11:8008/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":83886408,"timeline":3}';
const PATRONI_REPLICA =
  '{"conn_url":"postgres://10.0.0.12:5432/postgres","api_url":"http://10.0.0.12:8008/patroni","state":"running","role":"replica","version":"3.0.2","tags":{"nofailover":true,"clonefrom":true},"pending_restart":true,"xlog_location":83886400,"timeline":3}';
const PATRONI4_REPLICA =
  '{"conn_url":"postgres://10.0.0.13:5432/postgres","api_url":"http://10.0.0.13:8008/patroni","state":"streaming","role":"replica","version":"4.1.0","xlog_location":83886400,"receive_lsn":83886400,"replay_lsn":83886300,"replication_state":"streaming","timeline":3,"pending_restart_reason":{"max_connections":{"old_value":"100","new_value":"200"}}}';

describe('member JSON', () => {
  it('reads Patroni 3.0.2 primary and replica records', () => {
    const primary = parseMemberData(PATRONI_PRIMARY, 'members/pg0');
    expect(primary.warnings).toEqual([]);
    expect(primary.data).toEqual({
      conn_url: 'postgres://10.0.0.11:5432/postgres',
      api_url: 'http://10.0.0.11:8008/patroni',
      state: 'running',
      role: 'primary',
      roleSpelling: 'master',
      version: '3.0.2',
      xlog_location: 83886408,
      timeline: 3,
      tags: {},
      extra: {},
    });
    const replica = parseMemberData(PATRONI_REPLICA, 'members/pg1').data;
    expect(replica.role).toBe('replica');
    expect(replica.tags).toEqual({ nofailover: true, clonefrom: true });
    expect(replica.pending_restart).toBe(true);
  });

  it('reads Patroni 4 records: role primary, receive/replay LSNs, pending_restart_reason', () => {
    const { data, warnings } = parseMemberData(PATRONI4_REPLICA, 'members/pg2');
    expect(warnings).toEqual([]);
    expect(data).toMatchObject({ receive_lsn: 83886400, replay_lsn: 83886300, replication_state: 'streaming' });
    expect(data.pending_restart_reason).toEqual({ max_connections: { old_value: '100', new_value: '200' } });
    expect(parseMemberData('{"role":"primary"}').data.role).toBe('primary');
  });

  it("remembers how a primary's role was spelled (Patroni 3 `master`, Patroni 4 `primary`), and never writes it back", () => {
    const spelling = (r: string) => parseMemberData(JSON.stringify({ role: r })).data.roleSpelling;
    expect(spelling('master')).toBe('master');
    expect(spelling('primary')).toBe('primary');
    expect(spelling('replica')).toBeUndefined();
    const read = parseMemberData('{"role":"primary"}').data;
    expect(JSON.parse(serializeMemberData(read))).toEqual({ role: 'master' });
    expect(JSON.parse(serializeMemberData(read, { legacyPrimaryRole: false }))).toEqual({ role: 'primary' });
  });

  it('maps every Patroni role and reads anything else as unknown', () => {
    const roleOf = (r: unknown): string => parseMemberData(JSON.stringify({ role: r })).data.role;
    expect(roleOf('master')).toBe('primary');
    expect(roleOf('primary')).toBe('primary');
    for (const r of ['replica', 'standby_leader', 'demoted', 'uninitialized', 'promoted']) expect(roleOf(r)).toBe(r);
    expect(roleOf('sidecar')).toBe('unknown');
    expect(parseMemberData('{}').data.role).toBe('unknown');
  });

  it('reads the legacy connection-URL form', () => {
    const { data, warnings } = parseMemberData(
      'postgres://replicator:secret@10.0.0.5:5432/postgres?application_name=http://10.0.0.5:8008/patroni',
    );
    expect(warnings).toEqual([]);
    expect(data.conn_url).toBe('postgres://replicator:secret@10.0.0.5:5432/postgres');
    expect(data.api_url).toBe('http://10.0.0.5:8008/patroni');
    expect(data.role).toBe('unknown');
  });

  it('keeps unknown fields in extra and writes them back', () => {
    const value = '{"conn_url":"postgres://h:5432/postgres","role":"replica","future_field":{"x":[1,2]},"note":"hi"}';
    const { data } = parseMemberData(value);
    expect(data.extra).toEqual({ future_field: { x: [1, 2] }, note: 'hi' });
    expect(serializeMemberData(data)).toBe('{"conn_url":"postgres://h:5432/postgres","role":"replica","future_field":{"x":[1,2]},"note":"hi"}');
  });

  it('turns garbage into empty data plus a warning naming the key, never an exception', () => {
    for (const garbage of ['', 'not json', '{"conn_url":', '[1,2,3]', 'null', '42', '"a string"', 'true', '\u0000\u0001']) {
      const { data, warnings } = parseMemberData(garbage, 'members/bad');
      expect(data).toEqual({ role: 'unknown', tags: {}, extra: {} });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('members/bad');
    }
  });

  it('drops only the malformed fields of an otherwise good record', () => {
    const { data, warnings } = parseMemberData(
      '{"conn_url":5,"api_url":"http://h:8008/patroni","role":["master"],"xlog_location":"0/3000060","timeline":-1,"tags":[1],"pause":"yes","state":"running"}',
      'members/pg9',
    );
    expect(data).toEqual({ api_url: 'http://h:8008/patroni', state: 'running', role: 'unknown', tags: {}, extra: {} });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^members\/pg9: .*conn_url, role, xlog_location, timeline, tags, pause$/);
  });

  it('refuses WAL positions that are not exact integers (huge numbers, fractions)', () => {
    const { data, warnings } = parseMemberData('{"role":"replica","xlog_location":18446744073709551615,"receive_lsn":1e400,"replay_lsn":1.5,"timeline":9007199254740991}');
    expect(data.xlog_location).toBeUndefined();
    expect(data.receive_lsn).toBeUndefined();
    expect(data.replay_lsn).toBeUndefined();
    expect(data.timeline).toBe(9007199254740991);
    expect(warnings[0]).toContain('xlog_location, receive_lsn, replay_lsn');
  });

  it("writes Patroni's field order, compact, with master for primary by default", () => {
    const data: MemberData = {
      pause: true,
      timeline: 3,
      xlog_location: 83886408,
      tags: { nofailover: true },
      version: '0.1.0',
      role: 'primary',
      state: 'running',
      api_url: 'http://10.0.0.11:8008/patroni',
      conn_url: 'postgres://10.0.0.11:5432/postgres',
      proxy_url: 'postgres://10.0.0.100:6432/postgres',
      checkpoint_after_promote: false,
      pending_restart: true,
      extra: {},
    };
    expect(serializeMemberData(data)).toBe(
      '{"conn_url":"postgres://10.0.0.11:5432/postgres","api_url":"http://10.0.0.11:8008/patroni","state":"running","role":"master","version":"0.1.0","proxy_url":"postgres://10.0.0.100:6432/postgres","checkpoint_after_promote":false,"tags":{"nofailover":true},"pending_restart":true,"xlog_location":83886408,"timeline":3,"pause":true}',
    );
    expect(JSON.parse(serializeMemberData(data, { legacyPrimaryRole: false })).role).toBe('primary');
    expect(JSON.parse(serializeMemberData({ ...data, role: 'replica' })).role).toBe('replica');
  });

  it('leaves out empty tags, false flags and an unknown role', () => {
    const out = serializeMemberData({ role: 'unknown', tags: {}, pending_restart: false, pause: false, state: 'stopped', extra: {} });
    expect(out).toBe('{"state":"stopped"}');
  });

  it('round-trips Patroni records byte for byte', () => {
    for (const value of [PATRONI_PRIMARY, PATRONI_REPLICA]) {
      expect(serializeMemberData(parseMemberData(value).data)).toBe(value);
    }
  });

  it('never lets extra fields shadow known ones', () => {
    const out = serializeMemberData({ role: 'replica', tags: {}, extra: { role: 'master', custom: 1 } });
    expect(out).toBe('{"role":"replica","custom":1}');
  });
});

describe('JSON text as Python writes it', () => {
  it('escapes non-ASCII like json.dumps(ensure_ascii=True)', () => {
    // Expected strings produced by python3 json.dumps(..., separators=(',', ':')).
    expect(toPatroniJson({ comment: '主库切换 🐘', del: '\u007f', ctl: '\u0001\n', q: '"\\' })).toBe(
      '{"comment":"\\u4e3b\\u5e93\\u5207\\u6362 \\ud83d\\udc18","del":"\\u007f","ctl":"\\u0001\\n","q":"\\"\\\\"}',
    );
    const config = { tags: { 机房: '上海 🚀' } };
    expect(JSON.parse(serializeConfig(config))).toEqual(config);
  });
});

describe('failover', () => {
  it('reads switchover, failover and scheduled requests', () => {
    expect(parseFailover('{"leader":"pg0"}').value).toEqual({ leader: 'pg0' });
    expect(parseFailover('{"member":"pg1"}').value).toEqual({ member: 'pg1' });
    expect(parseFailover('{"leader":"pg0","member":"pg1","scheduled_at":"2016-01-14T10:09:57.1394Z"}').value).toEqual({
      leader: 'pg0',
      member: 'pg1',
      scheduled_at: '2016-01-14T10:09:57.1394Z',
    });
  });

  it('reads {} and empty values as no request', () => {
    for (const v of ['{}', '', '  ', '{"leader":null,"member":""}']) expect(parseFailover(v)).toEqual({ value: null, warnings: [] });
  });

  it('reads the legacy leader:candidate form', () => {
    expect(parseFailover('pg0:pg1').value).toEqual({ leader: 'pg0', member: 'pg1' });
    expect(parseFailover(' pg0 ').value).toEqual({ leader: 'pg0' });
    expect(parseFailover(':pg1').value).toEqual({ member: 'pg1' });
    expect(parseFailover(':').value).toBeNull();
  });

  it('reports JSON that is not an object, and bad fields', () => {
    for (const v of ['[]', 'null', '42', '"pg0"']) {
      const parsed = parseFailover(v, 'failover');
      expect(parsed.value).toBeNull();
      expect(parsed.warnings[0]).toContain('failover');
    }
    const parsed = parseFailover('{"leader":"pg0","member":7}');
    expect(parsed.value).toEqual({ leader: 'pg0' });
    expect(parsed.warnings).toHaveLength(1);
  });

  it('writes compactly, and {} to clear', () => {
    expect(serializeFailover({ leader: 'pg0', member: 'pg1', scheduled_at: '2024-05-01T10:00:00+00:00' })).toBe(
      '{"leader":"pg0","member":"pg1","scheduled_at":"2024-05-01T10:00:00+00:00"}',
    );
    expect(serializeFailover({ member: 'pg1' })).toBe('{"member":"pg1"}');
    expect(serializeFailover({})).toBe('{}');
  });
});

describe('sync', () => {
  it('reads Patroni 3 and 4 values, sorting the standbys', () => {
    expect(parseSync('{"leader":"pg0","sync_standby":"pg2,pg1"}').value).toEqual({ leader: 'pg0', sync_standby: ['pg1', 'pg2'], quorum: 0 });
    expect(parseSync('{"leader":"pg0","quorum":1,"sync_standby":"pg1,pg2"}').value).toEqual({ leader: 'pg0', sync_standby: ['pg1', 'pg2'], quorum: 1 });
    expect(parseSync('{"leader":"pg0","sync_standby":null}').value).toEqual({ leader: 'pg0', sync_standby: [], quorum: 0 });
  });

  it('reads {} (ZooKeeper clears sync that way) as a state without leader', () => {
    expect(parseSync('{}')).toEqual({ value: { leader: null, sync_standby: [], quorum: 0 }, warnings: [] });
  });

  it('reports garbage', () => {
    expect(parseSync('nope', 'sync').value).toBeNull();
    expect(parseSync('[]', 'sync').warnings[0]).toContain('sync');
    const bad = parseSync('{"leader":1,"sync_standby":{"a":1},"quorum":-2}', 'sync');
    expect(bad.value).toEqual({ leader: null, sync_standby: [], quorum: 0 });
    expect(bad.warnings[0]).toContain('leader, sync_standby, quorum');
  });

  it('writes the 3.x format, adding quorum only in quorum mode', () => {
    expect(serializeSync({ leader: 'pg0', sync_standby: ['pg2', 'pg1'], quorum: 0 })).toBe('{"leader":"pg0","sync_standby":"pg1,pg2"}');
    expect(serializeSync({ leader: 'pg0', sync_standby: [], quorum: 0 })).toBe('{"leader":"pg0","sync_standby":null}');
    expect(serializeSync({ leader: 'pg0', sync_standby: ['pg1', 'pg2'], quorum: 1 })).toBe('{"leader":"pg0","quorum":1,"sync_standby":"pg1,pg2"}');
  });
});

describe('history', () => {
  const PATRONI_HISTORY =
    '[[1,25165984,"no recovery target specified","2024-05-01T10:00:00.123456+00:00","pg1"],[2,33554592,"no recovery target specified","2024-05-02T11:00:00.000000+00:00"],[3,50331808,"no recovery target specified"]]';

  it('reads entries of three, four and five fields, and writes them back unchanged', () => {
    const { value, warnings } = parseHistory(PATRONI_HISTORY);
    expect(warnings).toEqual([]);
    expect(value).toEqual([
      { timeline: 1, lsn: 25165984, reason: 'no recovery target specified', timestamp: '2024-05-01T10:00:00.123456+00:00', new_leader: 'pg1' },
      { timeline: 2, lsn: 33554592, reason: 'no recovery target specified', timestamp: '2024-05-02T11:00:00.000000+00:00' },
      { timeline: 3, lsn: 50331808, reason: 'no recovery target specified' },
    ]);
    expect(serializeHistory(value!)).toBe(PATRONI_HISTORY);
  });

  it('skips malformed lines with one warning and rejects non-arrays', () => {
    const { value, warnings } = parseHistory('[[1,100,"ok"],[2],"x",[3,"0/300",  "bad lsn"],null,[4,400,"ok2",null]]', 'history');
    expect(value).toEqual([
      { timeline: 1, lsn: 100, reason: 'ok' },
      { timeline: 4, lsn: 400, reason: 'ok2' },
    ]);
    expect(warnings).toEqual(['history: skipped 4 malformed lines']);
    expect(parseHistory('{"a":1}', 'history').value).toBeNull();
    expect(parseHistory('[[1,', 'history').warnings[0]).toContain('history');
  });

  it('writes a null timestamp when only the new leader is known', () => {
    expect(serializeHistory([{ timeline: 1, lsn: 5, reason: 'r', new_leader: 'pg1' }])).toBe('[[1,5,"r",null,"pg1"]]');
  });
});

describe('status', () => {
  it('reads Patroni 2.1+ and 4.0 values', () => {
    expect(parseStatus('{"optime":67395656}').value).toEqual({ optime: 67395656, slots: {}, retain_slots: [] });
    expect(parseStatus('{"optime":67395656,"slots":{"pg1":67395656},"retain_slots":["pg1"]}').value).toEqual({
      optime: 67395656,
      slots: { pg1: 67395656 },
      retain_slots: ['pg1'],
    });
    expect(parseStatus('67395656').value?.optime).toBe(67395656);
  });

  it('drops bad parts and reports the rest', () => {
    const bad = parseStatus('{"optime":"x","slots":{"a":1,"b":"y"},"retain_slots":[1]}', 'status');
    expect(bad.value).toEqual({ optime: null, slots: { a: 1 }, retain_slots: [] });
    expect(bad.warnings[0]).toContain('optime, slots.b, retain_slots');
    expect(parseStatus('[1]', 'status').value).toBeNull();
    expect(parseStatus('garbage', 'status').warnings[0]).toContain('status');
  });

  it('writes what Patroni writes, leaving out empty parts', () => {
    expect(serializeStatus({ optime: 67395656, slots: {}, retain_slots: [] })).toBe('{"optime":67395656}');
    expect(serializeStatus({ optime: 67395656, slots: { pg1: 67395600 }, retain_slots: ['pg1'] })).toBe(
      '{"optime":67395656,"slots":{"pg1":67395600},"retain_slots":["pg1"]}',
    );
  });

  it('reads the legacy optime/leader key', () => {
    expect(parseLegacyOptime('67395656').value).toEqual({ optime: 67395656, slots: {}, retain_slots: [] });
    expect(parseLegacyOptime('abc').value).toBeNull();
    expect(parseLegacyOptime('99999999999999999999').warnings).toHaveLength(1);
  });
});

describe('config and failsafe', () => {
  it('reads a JSON object and rejects everything else', () => {
    expect(parseConfig('{"ttl":30,"loop_wait":10,"postgresql":{"use_pg_rewind":true}}').value).toEqual({
      ttl: 30,
      loop_wait: 10,
      postgresql: { use_pg_rewind: true },
    });
    for (const v of ['[]', 'null', '', '{', '1']) expect(parseConfig(v, 'config').value).toBeNull();
  });

  it('reads failsafe as member → URL, dropping non-strings', () => {
    expect(parseFailsafe('{"pg0":"http://10.0.0.11:8008/patroni","pg1":"http://10.0.0.12:8008/patroni"}').value).toEqual({
      pg0: 'http://10.0.0.11:8008/patroni',
      pg1: 'http://10.0.0.12:8008/patroni',
    });
    const bad = parseFailsafe('{"pg0":"http://x","pg1":5}', 'failsafe');
    expect(bad.value).toEqual({ pg0: 'http://x' });
    expect(bad.warnings).toEqual(['failsafe: ignored malformed entry pg1']);
    expect(parseFailsafe('[]', 'failsafe').value).toBeNull();
  });
});

describe('decodeCluster', () => {
  it('builds the model from a Patroni cluster', () => {
    const c = decodeCluster(
      raw({
        initialize: '7268616322854375442',
        config: '{"ttl":30,"loop_wait":10}',
        leader: 'pg0',
        'members/pg1': PATRONI_REPLICA,
        'members/pg0': PATRONI_PRIMARY,
        failover: '{}',
        sync: '{"leader":"pg0","sync_standby":"pg1"}',
        history: '[[2,50331808,"no recovery target specified","2024-05-01T10:00:00+00:00"]]',
        status: '{"optime":83886408}',
        failsafe: '{"pg0":"http://10.0.0.11:8008/patroni"}',
        'some/unknown/key': 'x',
      }),
    );
    expect(c.warnings).toEqual([]);
    expect(c.initialize).toEqual({ value: '7268616322854375442', version: '1' });
    expect(c.leader).toEqual({ name: 'pg0', version: '3' });
    expect(c.members.map((m) => [m.name, m.version, m.data.role])).toEqual([
      ['pg0', '5', 'primary'],
      ['pg1', '4', 'replica'],
    ]);
    expect(c.failover).toBeNull();
    expect(c.sync).toEqual({ value: { leader: 'pg0', sync_standby: ['pg1'], quorum: 0 }, version: '7' });
    expect(c.history?.value[0]?.timeline).toBe(2);
    expect(c.status).toEqual({ value: { optime: 83886408, slots: {}, retain_slots: [] }, version: '9' });
    expect(c.failsafe?.value).toEqual({ pg0: 'http://10.0.0.11:8008/patroni' });
  });

  it('keeps the owner of ephemeral keys', () => {
    const r: RawCluster = {
      nodes: new Map([
        ['leader', { value: 'pg0', version: '10', owner: 'lease-1' }],
        ['members/pg0', { value: '{}', version: '11', owner: 'lease-1' }],
      ]),
    };
    const c = decodeCluster(r);
    expect(c.leader?.owner).toBe('lease-1');
    expect(c.members[0]?.owner).toBe('lease-1');
  });

  it('falls back to optime/leader when status is absent or unreadable', () => {
    expect(decodeCluster(raw({ 'optime/leader': '50331808' })).status?.value.optime).toBe(50331808);
    const c = decodeCluster(raw({ status: 'garbage', 'optime/leader': '50331808' }));
    expect(c.status?.value.optime).toBe(50331808);
    expect(c.warnings).toHaveLength(1);
    expect(decodeCluster(raw({ status: '{"optime":7}', 'optime/leader': '5' })).status?.value.optime).toBe(7);
  });

  it('turns every malformed value into null or empty data with one warning per key', () => {
    const c = decodeCluster(
      raw({
        config: '[',
        leader: '',
        'members/pg0': 'garbage',
        'members/': '{}',
        'members/a/b': '{}',
        failover: '[1]',
        sync: '"x"',
        history: '{}',
        status: 'null',
        failsafe: '7',
      }),
    );
    expect(c.config).toBeNull();
    expect(c.leader).toBeNull();
    expect(c.members).toEqual([{ name: 'pg0', version: '3', data: { role: 'unknown', tags: {}, extra: {} } }]);
    expect(c.failover).toBeNull();
    expect(c.sync).toBeNull();
    expect(c.history).toBeNull();
    expect(c.status).toBeNull();
    expect(c.failsafe).toBeNull();
    const keys = c.warnings.map((w) => w.split(':')[0]).sort();
    expect(keys).toEqual(['config', 'failover', 'failsafe', 'history', 'leader', 'members/pg0', 'status', 'sync']);
  });

  it('sorts members by name', () => {
    const c = decodeCluster(raw({ 'members/pg10': '{}', 'members/pg2': '{}', 'members/Pg1': '{}', 'members/pg1': '{}' }));
    expect(c.members.map((m) => m.name)).toEqual(['Pg1', 'pg1', 'pg10', 'pg2']);
  });
});

describe("config edited by hand, as in the seed manual", () => {
  it('reads bare words leniently with a warning instead of ignoring the edit', () => {
    // Verbatim from the seed manual's chapter 3 (zkCli `set /service/batman5/config ...`).
    const edited =
      '{"ttl":30, "maximum_lag_on_failover":1048576, "synchronous_mode": "true","retry_timeout":10,"postgresql":{"use_pg_rewind":true,"parameters":{"wal_level":logical, "max_connections":100, "wal_log_hints": "on" }}, "loop_wait":10}';
    const parsed = parseConfig(edited);
    expect(parsed.value).toEqual({
      ttl: 30,
      maximum_lag_on_failover: 1048576,
      synchronous_mode: 'true',
      retry_timeout: 10,
      postgresql: { use_pg_rewind: true, parameters: { wal_level: 'logical', max_connections: 100, wal_log_hints: 'on' } },
      loop_wait: 10,
    });
    expect(parsed.warnings).toHaveLength(1);
    expect(parsed.warnings[0]).toMatch(/^config: not strict JSON/);
  });

  it('still ignores a value that is neither', () => {
    const parsed = parseConfig('{"ttl": [30');
    expect(parsed.value).toBeNull();
    expect(parsed.warnings[0]).toMatch(/^config: not valid JSON/);
  });
});

describe('conn_url', () => {
  it('gives host and port of a postgres URL, null for anything else', () => {
    expect(parseConnUrl('postgres://10.0.0.4:5433/postgres')).toEqual({ host: '10.0.0.4', port: 5433 });
    expect(parseConnUrl('postgresql://[::1]/postgres')).toEqual({ host: '::1', port: 5432 });
    expect(parseConnUrl('http://x')).toBeNull();
    expect(parseConnUrl('not a url')).toBeNull();
    expect(parseConnUrl('postgres:///postgres')).toBeNull();
    });
  });

describe('hostile values: deep and huge (issue #15)', () => {
  const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
  const keys = ['members/pg9', 'config', 'sync', 'failover', 'status', 'failsafe', 'history'];

  it('reads a value nested 100 000 levels deep in any key as unreadable, with a warning, and the cluster serialises', () => {
    for (const value of [deepArray, deepObject]) {
      const c = decodeCluster(raw(Object.fromEntries(keys.map((k) => [k, value]))));
      expect([c.config, c.sync, c.failover, c.status, c.failsafe, c.history]).toEqual([null, null, null, null, null, null]);
      expect(c.members.map((m) => [m.name, m.data.role, m.data.extra])).toEqual([['pg9', 'unknown', {}]]);
      for (const k of keys) expect(c.warnings).toContain(`${k}: value nested deeper than ${MAX_JSON_DEPTH} levels, ignored`);
      // What GET /cluster and the logs do with it: must not throw RangeError.
      expect(() => JSON.stringify(c)).not.toThrow();
    }
  });

  it('a deep member field (tags, an extra field) is refused with the whole value, so nothing deep is kept', () => {
    const deepTags = `{"role":"replica","tags":${deepObject}}`;
    const { data, warnings } = parseMemberData(deepTags, 'members/pg9');
    expect(data).toEqual({ role: 'unknown', tags: {}, extra: {} });
    expect(warnings).toEqual([`members/pg9: value nested deeper than ${MAX_JSON_DEPTH} levels, ignored`]);
  });

  it('a config that is neither JSON nor shallow is not handed to the YAML fallback', () => {
    const deepYaml = `${'{a: '.repeat(50_000)}1${'}'.repeat(50_000)}`;
    expect(parseConfig(deepYaml)).toEqual({ value: null, warnings: [`config: value nested deeper than ${MAX_JSON_DEPTH} levels, ignored`] });
  });

  it('refuses values larger than etcd allows (1.5 MiB), and keeps near-limit ones', () => {
    const huge = JSON.stringify({ ttl: 30, pad: 'x'.repeat(1600 * 1024) });
    const parsed = parseConfig(huge);
    expect(parsed.value).toBeNull();
    expect(parsed.warnings[0]).toMatch(/^config: value of \d+ characters is larger than 1572864, ignored$/);
    const big = JSON.stringify({ ttl: 30, pad: 'x'.repeat(1000 * 1024) });
    expect(parseConfig(big).value?.['ttl']).toBe(30);
  });

  it('accepts nesting up to the bound; brackets inside strings do not count', () => {
    const atBound = `${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}`;
    expect(parseConfig(atBound).value).not.toBeNull();
    expect(parseConfig(`{"a":${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}}`).value).toBeNull();
    expect(jsonNestingDepth('{"s":"[[[[{{{{\\"[[["}')).toBe(1);
  });
});
