// The replication slot policy (slots.ts): which slots each member keeps, drops, copies and advances (issue #8).
import { describe, expect, it } from 'vitest';
import type { Cluster } from '@pgha/dcs';
import type { LocalSlot, Snapshot } from '../src/index.js';
import { COPY_SLOTS_LABEL, decide, resolveEngineConfig, slotRepairPlan } from '../src/index.js';
import { NOW, actionOf, clusterWithLeader, config, leaderSnapshot, member, runningReplica, snapshot, summary } from './fixtures/snapshots.js';

const PERMANENT = {
  slots: { keep_me: { type: 'physical' }, cdc: { type: 'logical', database: 'app', plugin: 'pgoutput' } },
  ignore_slots: [{ name: 'handmade' }, { type: 'logical', plugin: 'wal2json' }],
  member_slots_ttl: 60,
};
const cfg = config(PERMANENT, { use_slots: true });

function physical(name: string, restartLsn: number | null = 100): LocalSlot {
  return { name, type: 'physical', database: null, plugin: null, restartLsn, confirmedFlushLsn: null };
}
function logical(name: string, confirmedFlushLsn: number, database = 'app', plugin = 'pgoutput'): LocalSlot {
  return { name, type: 'logical', database, plugin, restartLsn: confirmedFlushLsn - 10, confirmedFlushLsn };
}
function slotActions(s: Snapshot): string[] {
  return summary(decide(s)).actions.filter((a) => a.startsWith('sync_slots') || a.startsWith('restart'));
}
function withStatus(cluster: Cluster, slots: Record<string, number>, retain: string[] = []): Cluster {
  return { ...cluster, status: { value: { optime: 1000, slots, retain_slots: retain }, version: '9' } };
}

describe('config', () => {
  it('reads slots, ignore_slots and member_slots_ttl, skipping malformed entries with a warning', () => {
    const { config: c, warnings } = resolveEngineConfig({
      slots: { ok: { type: 'physical' }, lg: { type: 'logical', database: 'd', plugin: 'p' }, 'Bad-Name': { type: 'physical' }, half: { type: 'logical' } },
      ignore_slots: [{ name: 'x' }, {}],
      member_slots_ttl: '2min',
    });
    expect(c.permanentSlots).toEqual([
      { name: 'lg', type: 'logical', database: 'd', plugin: 'p' },
      { name: 'ok', type: 'physical' },
    ]);
    expect(c.ignoreSlots).toEqual([{ name: 'x' }]);
    expect(c.memberSlotsTtl).toBe(120);
    expect(warnings.join('\n')).toMatch(/config\.slots\.Bad-Name/);
    expect(warnings.join('\n')).toMatch(/config\.slots\.half/);
    expect(warnings.join('\n')).toMatch(/config\.ignore_slots\[1\]/);
    expect(resolveEngineConfig({}).config.memberSlotsTtl).toBe(1800);
  });
});

describe('on the primary', () => {
  it('creates member slots and permanent slots, and drops unknown ones but never ignored ones', () => {
    const s = leaderSnapshot({
      config: cfg,
      local: { ...leaderSnapshot().local, slots: [physical('pg1'), physical('stale'), physical('handmade'), logical('w2j', 50, 'app', 'wal2json'), logical('old', 50)] },
    });
    const plan = actionOf(decide(s), 'sync_slots').plan;
    expect(plan.create).toEqual([
      { name: 'pg2', type: 'physical' },
      { name: 'cdc', type: 'logical', database: 'app', plugin: 'pgoutput' },
      { name: 'keep_me', type: 'physical' },
    ]);
    expect(plan.drop).toEqual(['old', 'stale']);
  });

  it('does nothing when the slots are as they should be, and publishes their positions and the retained member slots', () => {
    const s = leaderSnapshot({
      config: cfg,
      local: { ...leaderSnapshot().local, slots: [physical('pg1', 111), physical('pg2', 222), physical('keep_me', 333), logical('cdc', 444)] },
    });
    const d = decide(s);
    expect(d.actions.some((a) => a.kind === 'sync_slots')).toBe(false);
    expect(actionOf(d, 'renew_lock').status).toEqual({ optime: 50_331_648, slots: { cdc: 444, keep_me: 333, pg1: 111, pg2: 222 }, retain_slots: ['pg1', 'pg2'] });
  });

  it('recreates a permanent logical slot whose plugin or database changed (drop first)', () => {
    const s = leaderSnapshot({ config: cfg, local: { ...leaderSnapshot().local, slots: [physical('pg1'), physical('pg2'), physical('keep_me'), logical('cdc', 50, 'other')] } });
    expect(actionOf(decide(s), 'sync_slots').plan).toMatchObject({ create: [], drop: ['cdc'] });
  });

  it('keeps no slot for a member that streams from another member (replicatefrom), nor for a nostream member', () => {
    const cluster = clusterWithLeader({
      members: [member('pg0', { role: 'primary' }), member('pg1'), member('pg2', { tags: { replicatefrom: 'pg1' } }), member('pg3', { tags: { nostream: true } })],
    });
    const plan = actionOf(decide(leaderSnapshot({ config: config({}, { use_slots: true }), cluster, local: { ...leaderSnapshot().local, slots: [] } })), 'sync_slots').plan;
    expect(plan.create.map((c) => c.name)).toEqual(['pg1']);
  });

  it('keeps the slot of a cascading member whose source has no member key', () => {
    const cluster = clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg2', { tags: { replicatefrom: 'gone' } })] });
    const plan = actionOf(decide(leaderSnapshot({ config: config({}, { use_slots: true }), cluster, local: { ...leaderSnapshot().local, slots: [] } })), 'sync_slots').plan;
    expect(plan.create.map((c) => c.name)).toEqual(['pg2']);
  });

  it('keeps a gone member slot for member_slots_ttl after it was last needed, then drops it', () => {
    const slots = [physical('pg1'), physical('pg2'), physical('keep_me'), logical('cdc', 10)];
    // The status key still lists pg2 as retained (our own last publication): memory decides.
    const without = withStatus(clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1')] }), {}, ['pg1', 'pg2']);
    const base = { config: cfg, cluster: without, local: { ...leaderSnapshot().local, slots } };
    // pg2 was last seen 59 s ago: kept, and still published as retained.
    const kept = decide(leaderSnapshot({ ...base, memory: { ...leaderSnapshot().memory, memberSlotsSeen: { pg1: NOW, pg2: NOW - 59_000 } } }));
    expect(kept.actions.some((a) => a.kind === 'sync_slots')).toBe(false);
    expect(actionOf(kept, 'renew_lock').status?.retain_slots).toEqual(['pg1', 'pg2']);
    expect(kept.memory.memberSlotsSeen).toEqual({ pg1: NOW, pg2: NOW - 59_000 });
    // 60 s: dropped.
    const gone = decide(leaderSnapshot({ ...base, memory: { ...leaderSnapshot().memory, memberSlotsSeen: { pg1: NOW, pg2: NOW - 60_000 } } }));
    expect(actionOf(gone, 'sync_slots').plan.drop).toEqual(['pg2']);
    expect(gone.memory.memberSlotsSeen).toEqual({ pg1: NOW });
  });

  it('an agent restarted on the primary keeps the slots the status key says were retained, starting their ttl anew', () => {
    const without = withStatus(clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1')] }), {}, ['pg1', 'pg2']);
    const d = decide(leaderSnapshot({ config: cfg, cluster: without, local: { ...leaderSnapshot().local, slots: [physical('pg1'), physical('pg2'), physical('keep_me'), logical('cdc', 10)] } }));
    expect(d.actions.some((a) => a.kind === 'sync_slots')).toBe(false);
    expect(d.memory.memberSlotsSeen).toEqual({ pg1: NOW, pg2: NOW });
  });

  it('member_slots_ttl 0 drops a gone member slot at once', () => {
    const c = config({ member_slots_ttl: 0 }, { use_slots: true });
    const without = withStatus(clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1')] }), {}, ['pg2']);
    const d = decide(leaderSnapshot({ config: c, cluster: without, local: { ...leaderSnapshot().local, slots: [physical('pg1'), physical('pg2')] } }));
    expect(actionOf(d, 'sync_slots').plan.drop).toEqual(['pg2']);
  });
});

describe('on a replica', () => {
  // The permanent physical slot is there, at the published position, unless a test says otherwise.
  const replica = (slots: LocalSlot[], over: Partial<Snapshot> = {}): Snapshot =>
    snapshot({ config: cfg, local: runningReplica({ slots: [physical('keep_me', 4000), ...slots] }), cluster: withStatus(clusterWithLeader(), { cdc: 5000, keep_me: 4000 }), ...over });
  const bare = (slots: LocalSlot[], over: Partial<Snapshot> = {}): Snapshot =>
    snapshot({ config: cfg, local: runningReplica({ slots }), cluster: withStatus(clusterWithLeader(), { cdc: 5000, keep_me: 4000 }), ...over });

  it('keeps no member slots; drops leftovers (an old primary)', () => {
    const plan = actionOf(decide(replica([physical('pg2'), logical('cdc', 5000)])), 'sync_slots').plan;
    expect(plan).toEqual({ create: [], drop: ['pg2'], advance: [] });
  });

  it('keeps permanent physical slots too (Patroni 3.2+): creates one, advances it to the published position, never backwards', () => {
    expect(actionOf(decide(bare([logical('cdc', 5000)])), 'sync_slots').plan).toEqual({ create: [{ name: 'keep_me', type: 'physical' }], drop: [], advance: [] });
    expect(actionOf(decide(bare([logical('cdc', 5000), physical('keep_me', 3000)])), 'sync_slots').plan).toEqual({
      create: [],
      drop: [],
      advance: [{ name: 'keep_me', database: null, lsn: 4000 }],
    });
    expect(slotActions(bare([logical('cdc', 5000), physical('keep_me', 4500)]))).toEqual([]);
    // One created by someone else without reserving WAL cannot advance: dropped, to be created again.
    expect(actionOf(decide(bare([logical('cdc', 5000), physical('keep_me', null)])), 'sync_slots').plan.drop).toEqual(['keep_me']);
  });

  it('advances a permanent physical slot to a replicatefrom member of that name when it is further than the published position', () => {
    const cluster = withStatus(
      clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1'), member('keep_me', { tags: { replicatefrom: 'pg0' }, xlog_location: 4800 })] }),
      { cdc: 5000, keep_me: 4000 },
    );
    expect(actionOf(decide(bare([logical('cdc', 5000), physical('keep_me', 3000)], { cluster })), 'sync_slots').plan.advance).toEqual([{ name: 'keep_me', database: null, lsn: 4800 }]);
  });

  it('a nofailover replica keeps no permanent slots, physical or logical (it never becomes primary)', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { nofailover: true }, version: 'v' };
    expect(actionOf(decide(replica([logical('cdc', 5000)], { me })), 'sync_slots').plan.drop).toEqual(['cdc', 'keep_me']);
    expect(slotActions(bare([], { me }))).toEqual([]);
  });

  it('never keeps the permanent slot named after itself', () => {
    const me = { name: 'keep_me', connUrl: 'c', apiUrl: 'a', tags: {}, version: 'v' };
    const cluster = withStatus(clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('keep_me')] }), { cdc: 5000, keep_me: 4000 });
    expect(actionOf(decide(replica([logical('cdc', 5000)], { me, cluster })), 'sync_slots').plan.drop).toEqual(['keep_me']);
  });

  it('copies a permanent logical slot the primary publishes and restarts to load it', () => {
    const d = decide(replica([]));
    expect(slotActions(replica([]))).toEqual(['restart(copy cdc from pg0)']);
    expect(actionOf(d, 'restart')).toMatchObject({ label: COPY_SLOTS_LABEL, copyLogicalSlots: { source: { name: 'pg0', connUrl: 'postgres://pg0:5432/postgres' }, slots: ['cdc'] } });
    expect(d.member?.state).toBe('restarting');
  });

  it('does not copy a slot the primary does not publish yet', () => {
    expect(slotActions(replica([], { cluster: withStatus(clusterWithLeader(), {}) }))).toEqual([]);
  });

  it('does not restart again within ttl of the last copy, so a slot that does not load cannot loop restarts', () => {
    const lastAction = { kind: 'restart' as const, label: COPY_SLOTS_LABEL, ok: true, startedAt: NOW - 5000, finishedAt: NOW - 4000 };
    expect(slotActions(replica([], { lastAction }))).toEqual([]);
    expect(slotActions(replica([], { lastAction: { ...lastAction, finishedAt: NOW - 31_000 } }))).toEqual(['restart(copy cdc from pg0)']);
  });

  it('advances its copy to the position the primary publishes, never backwards', () => {
    expect(actionOf(decide(replica([logical('cdc', 4000)])), 'sync_slots').plan.advance).toEqual([{ name: 'cdc', database: 'app', lsn: 5000 }]);
    expect(slotActions(replica([logical('cdc', 5000)]))).toEqual([]);
    expect(slotActions(replica([logical('cdc', 6000)]))).toEqual([]);
  });

  it('a nostream replica keeps no logical copies', () => {
    const me = { name: 'pg1', connUrl: 'c', apiUrl: 'a', tags: { nostream: true }, version: 'v' };
    expect(actionOf(decide(replica([logical('cdc', 5000)], { me })), 'sync_slots').plan.drop).toEqual(['cdc']);
    expect(slotActions(replica([], { me }))).toEqual([]);
  });

  it('a replicatefrom source keeps a slot for the member cascading from it', () => {
    const cluster = withStatus(
      clusterWithLeader({ members: [member('pg0', { role: 'primary' }), member('pg1'), member('pg2', { tags: { replicatefrom: 'pg1' } })] }),
      { cdc: 5000 },
    );
    const plan = actionOf(decide(replica([logical('cdc', 5000)], { cluster })), 'sync_slots').plan;
    expect(plan.create).toEqual([{ name: 'pg2', type: 'physical' }]);
    expect(decide(replica([logical('cdc', 5000), physical('pg2')], { cluster })).actions.some((a) => a.kind === 'sync_slots')).toBe(false);
  });

  it('leaves slots alone while something else is being done to PostgreSQL', () => {
    const s = replica([physical('junk')], { local: runningReplica({ slots: [physical('junk')], following: 'pg2' }) });
    const actions = summary(decide(s)).actions;
    expect(actions).toContain('follow(pg0)');
    expect(actions.some((a) => a.startsWith('sync_slots'))).toBe(false);
  });
});

// Moved from the agent's PostgreSQL adapter (issue #19): the adapter reports the outcome, the
// engine decides that a copy whose WAL is gone is dropped (and copied again by a later cycle).
describe('slotRepairPlan', () => {
  it('drops the logical slot copies that cannot advance because their WAL is gone', () => {
    expect(slotRepairPlan({ failures: ['advance slot cdc: requested WAL segment has already been removed'], walRemoved: ['cdc', 'alpha', 'cdc'] })).toEqual({
      create: [],
      drop: ['alpha', 'cdc'],
      advance: [],
    });
  });

  it('asks for nothing after other failures, or none', () => {
    expect(slotRepairPlan({ failures: ['create slot pg2: permission denied'], walRemoved: [] })).toBeNull();
    expect(slotRepairPlan({ failures: [], walRemoved: [] })).toBeNull();
  });
});
