// Patroni 4.0 renamed a primary's role `master` to `primary` (pgha issue #17): the names the
// member uses are the configured ones, else those the other members show.
import { afterEach, describe, expect, it } from 'vitest';
import { parseMemberData, type Member } from '@pgha/dcs';
import { decide, patroniDialectOf, speaksPatroni4 } from '../src/index.js';
import type { Rig } from './fixtures/engines.js';
import { rig } from './fixtures/engines.js';
import { clusterWithLeader, config, leaderSnapshot, member, snapshot } from './fixtures/snapshots.js';

/** A member as read from the JSON a Patroni of `version` writes (`role` spelled as it spells it). */
function written(name: string, json: Record<string, unknown>): Member {
  return { name, version: '1', data: parseMemberData(JSON.stringify({ state: 'running', conn_url: `postgres://${name}:5432/postgres`, ...json })).data };
}

const patroni3Leader = written('pg0', { role: 'master', version: '3.0.2' });
const patroni4Leader = written('pg0', { role: 'primary', version: '4.1.0' });
const me = { configured: null, me: 'pg1' } as const;

describe('which Patroni names a member uses', () => {
  it('recognises Patroni 4 by a version of 4 or more, or by a primary spelled `primary`', () => {
    expect(speaksPatroni4(patroni4Leader)).toBe(true);
    expect(speaksPatroni4(written('pg2', { role: 'replica', version: '4.0.0' }))).toBe(true);
    expect(speaksPatroni4(written('pg2', { role: 'replica', version: '10.2' }))).toBe(true);
    // A pgha member speaking 4 writes Patroni 3.0.2 as its version, and `primary` as its role.
    expect(speaksPatroni4(written('pg0', { role: 'primary', version: '3.0.2' }))).toBe(true);
    expect(speaksPatroni4(patroni3Leader)).toBe(false);
    expect(speaksPatroni4(written('pg2', { role: 'replica', version: '3.3.2' }))).toBe(false);
    expect(speaksPatroni4(written('pg2', { role: 'replica', version: 'garbage' }))).toBe(false);
    expect(speaksPatroni4(written('pg2', { role: 'replica' }))).toBe(false);
  });

  it("detects 4 from another member's key, else 3", () => {
    const of = (members: Member[]) => patroniDialectOf(clusterWithLeader({ members }), me);
    expect(of([patroni3Leader, member('pg1'), member('pg2')])).toBe(3);
    expect(of([patroni4Leader, member('pg1'), member('pg2')])).toBe(4);
    expect(of([patroni3Leader, member('pg1'), written('pg2', { role: 'replica', version: '4.0.4' })])).toBe(4);
    expect(of([])).toBe(3);
  });

  it('leaves its own key out, so its last write never keeps it on 4', () => {
    const cluster = clusterWithLeader({ members: [written('pg0', { role: 'primary', version: '3.0.2' }), member('pg1')] });
    expect(patroniDialectOf(cluster, { configured: null, me: 'pg0' })).toBe(3);
    expect(patroniDialectOf(cluster, { configured: null, me: 'pg1' })).toBe(4);
  });

  it('uses the configured names whatever the members show, even with the DCS unreachable', () => {
    const four = clusterWithLeader({ members: [patroni4Leader, member('pg1')] });
    const three = clusterWithLeader({ members: [patroni3Leader, member('pg1')] });
    expect(patroniDialectOf(four, { configured: 3, me: 'pg1' })).toBe(3);
    expect(patroniDialectOf(three, { configured: 4, me: 'pg1' })).toBe(4);
    expect(patroniDialectOf({ error: 'etcd is down' }, { configured: 4, me: 'pg1' })).toBe(4);
    // Nothing to go by: the caller keeps what it had.
    expect(patroniDialectOf({ error: 'etcd is down' }, me)).toBeNull();
  });

  it('comes with every decision, from the same snapshot', () => {
    const cluster = clusterWithLeader({ members: [patroni4Leader, member('pg1'), member('pg2')] });
    expect(decide(snapshot({ cluster })).patroniDialect).toBe(4);
    expect(decide(snapshot()).patroniDialect).toBe(3);
    expect(decide(leaderSnapshot({ cluster, config: { ...config(), patroniCompatibility: 3 } })).patroniDialect).toBe(3);
    expect(decide(snapshot({ cluster: { error: 'down' } })).patroniDialect).toBeNull();
    expect(decide(snapshot({ cluster: { error: 'down' }, config: { ...config(), patroniCompatibility: 4 } })).patroniDialect).toBe(4);
  });
});

describe('the loop writes and reports the names in use', () => {
  let r: Rig | null = null;
  afterEach(async () => {
    await r?.close();
    r = null;
  });
  const settings = (patroniCompatibility: 3 | 4 | null) => ({ bootstrapDcs: { ttl: 30, loop_wait: 10, retry_timeout: 10 }, patroniCompatibility });
  const roleIn = async (t: Rig, name: string): Promise<string> => {
    const reader = t.dcs.store('reader');
    const value = (await reader.driver.load()).nodes.get(`members/${name}`)!.value;
    await reader.close();
    return (JSON.parse(value) as { role: string }).role;
  };

  it.each([
    [3, 'master'],
    [4, 'primary'],
  ] as const)('a leader configured for Patroni %s writes its role as %s, and a detecting replica follows', async (dialect, role) => {
    const t = (r = rig());
    const pg0 = t.engine('pg0', { settings: settings(dialect) });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    const pg1 = t.engine('pg1', { settings: settings(null) });
    pg1.loop.start();
    await t.until(() => t.world.server('pg1').streaming, 60_000);
    await t.advance(10_000);
    expect(await roleIn(t, 'pg0')).toBe(role);
    expect(pg0.loop.status().patroniDialect).toBe(dialect);
    // pg1 reads pg0's spelling (and writes `replica` either way).
    expect(pg1.loop.status().patroniDialect).toBe(dialect);
    expect(await roleIn(t, 'pg1')).toBe('replica');
  });

  it('a detecting leader switches to 4 while a Patroni 4 member is in the cluster, and back to 3 when it leaves', async () => {
    const t = (r = rig());
    const pg0 = t.engine('pg0', { settings: settings(null) });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    await t.advance(10_000);
    expect(await roleIn(t, 'pg0')).toBe('master');
    expect(pg0.loop.status().patroniDialect).toBe(3);

    const patroni4 = t.dcs.store('pg9');
    await patroni4.driver.touchMember(JSON.stringify({ conn_url: 'postgres://pg9:5432/postgres', api_url: 'http://pg9:8008/patroni', state: 'running', role: 'replica', version: '4.1.0' }));
    await t.advance(10_000);
    expect(await roleIn(t, 'pg0')).toBe('primary');
    expect(pg0.loop.status().patroniDialect).toBe(4);
    expect(pg0.logs.some((l) => l.msg.startsWith("now using Patroni 4's names"))).toBe(true);

    expect(await patroni4.deleteMember('pg9')).toBe(true);
    await t.advance(10_000);
    expect(await roleIn(t, 'pg0')).toBe('master');
    expect(pg0.loop.status().patroniDialect).toBe(3);
    await patroni4.close();
  });
});
