// The HA loop over the in-memory DCS, simulated PostgreSQL and a fake clock: timing and
// wakeups, background actions, every DCS fault from the primary and from a replica, the safety
// deadline, a hung PostgreSQL, fatal conditions and shutdown.
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterStore, MemberData } from '@pgha/dcs';
import type { PeerProbe, PeerStatus, PostgresPort, SlotPlan, WatchdogPort } from '../src/index.js';
import { unreachable } from '../src/index.js';
import type { Engine, Rig } from './fixtures/engines.js';
import { lastReason, rig } from './fixtures/engines.js';

let r: Rig | null = null;

afterEach(async () => {
  await r?.close();
  r = null;
});

/** pg0 bootstraps and leads; the other names clone from it and stream. */
async function cluster(names: string[] = ['pg0', 'pg1'], postgresTimings: Parameters<typeof rig>[1] = {}): Promise<{ rig: Rig; engines: Record<string, Engine> }> {
  r = rig(undefined, postgresTimings);
  const engines: Record<string, Engine> = {};
  engines['pg0'] = r.engine('pg0');
  engines['pg0'].loop.start();
  const current = r;
  await current.until(() => engines['pg0']?.loop.status().holdsLock === true && current.world.writablePrimaries().includes('pg0'), 30_000);
  for (const n of names.slice(1)) {
    engines[n] = current.engine(n);
    engines[n].loop.start();
  }
  await current.until(() => names.slice(1).every((n) => current.world.server(n).streaming), 60_000);
  return { rig: current, engines };
}

function cycleLines(e: Engine): object[] {
  return e.logs.filter((l) => (l.obj as { event?: string }).event === 'ha_cycle').map((l) => l.obj);
}

describe('timing and wakeups', () => {
  it('runs a cycle every loop_wait and at once on wakeup()', async () => {
    const { rig: t, engines } = await cluster(['pg0']);
    const pg0 = engines['pg0'] as Engine;
    await t.advance(10_000);
    const before = pg0.reports.length;
    await t.advance(30_000);
    expect(pg0.reports.length - before).toBe(3);
    const again = pg0.reports.length;
    pg0.loop.wakeup();
    await t.advance(100);
    expect(pg0.reports.length).toBe(again + 1);
  });

  it('a replica wakes as soon as the leader key changes', async () => {
    const { rig: t, engines } = await cluster();
    const pg1 = engines['pg1'] as Engine;
    await t.advance(5_000);
    const before = pg1.reports.length;
    const changedAt = t.clock.now();
    // The leader key disappears with pg0's session; the watch reports it.
    t.dcs.backend.faults.expireSession('pg0');
    await t.advance(500);
    expect(pg1.reports.length).toBeGreaterThan(before);
    expect((pg1.reports[before]?.snapshot.now ?? Infinity) - changedAt).toBeLessThan(1_000);
  });

  it('the leader wakes when a member key is created (a member joining needs its slot), not when one is rewritten', async () => {
    const { rig: t, engines } = await cluster(['pg0']);
    const pg0 = engines['pg0'] as Engine;
    await t.advance(5_000);
    const joining = t.dcs.store('pg7');
    let before = pg0.reports.length;
    const data: MemberData = { conn_url: 'postgres://127.0.0.1:5439/postgres', api_url: 'http://127.0.0.1:8099/patroni', state: 'running', role: 'replica', tags: {}, extra: {} };
    await joining.touchMember(data);
    await t.advance(500);
    expect(pg0.reports.length).toBe(before + 1);
    before = pg0.reports.length;
    await joining.touchMember({ ...data, xlog_location: 1 });
    await t.advance(500);
    expect(pg0.reports.length).toBe(before);
  });

  it('logs one structured line per cycle', async () => {
    const { engines } = await cluster(['pg0']);
    const pg0 = engines['pg0'] as Engine;
    const last = cycleLines(pg0).at(-1);
    expect(last).toMatchObject({
      event: 'ha_cycle',
      reason: 'no action. I am (pg0), the leader with the lock',
      rule: 'leader-with-lock',
      actions: ['renew_lock'],
      leader: 'pg0',
      role: 'primary',
      timeline: 1,
      lsn: 50_331_648,
    });
    expect(cycleLines(pg0)).toHaveLength(pg0.reports.length);
  });

  it('exposes the last cycle for the REST API', async () => {
    const { engines } = await cluster();
    expect(engines['pg0']?.loop.status()).toMatchObject({ name: 'pg0', role: 'primary', state: 'running', leader: 'pg0', holdsLock: true, timeline: 1 });
    expect(engines['pg1']?.loop.status()).toMatchObject({ name: 'pg1', role: 'replica', state: 'running', leader: 'pg0', holdsLock: false });
  });
});

describe('background actions', () => {
  it('a long restart runs in the background while the leader keeps its lock', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    t.world.server('pg0').nextStartMs = 70_000;
    pg0.loop.request('restart', { requestedAt: t.clock.now() });
    await t.advance(45_000);
    // Longer than the ttl: the lock survives only because cycles kept renewing it.
    const reasons = pg0.reports.map((x) => x.reason);
    expect(reasons.filter((x) => x === 'updated leader lock during restart').length).toBeGreaterThanOrEqual(3);
    expect((await t.drive(t.dcs.store('pgx').loadCluster())).leader?.name).toBe('pg0');
    expect(engines['pg1']?.reports.some((x) => x.reason.startsWith('promoted'))).toBe(false);
    await t.until(() => lastReason(pg0) === 'no action. I am (pg0), the leader with the lock', 60_000);
    expect(t.world.writablePrimaries()).toEqual(['pg0']);
  });
});

describe('slot plans', () => {
  it('a slot copy reported as having lost its WAL is dropped in the same action (core slotRepairPlan)', async () => {
    r = rig();
    const t = r;
    const base = t.world.port('pg0');
    const plans: SlotPlan[] = [];
    // The port reports every plan with a create as having found the copy `ghost` without its WAL.
    const syncSlots = async (plan: SlotPlan, signal: AbortSignal) => {
      plans.push(plan);
      const report = await base.syncSlots(plan, signal);
      return plan.create.length > 0 ? { failures: ['advance slot ghost: requested WAL segment 000000010000000000000001 has already been removed'], walRemoved: ['ghost'] } : report;
    };
    // The fake's own methods, bound to it (they use private fields), with syncSlots replaced.
    const postgres = new Proxy(base, {
      get: (target, key) => {
        if (key === 'syncSlots') return syncSlots;
        const v: unknown = Reflect.get(target, key);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const pg0 = t.engine('pg0', { postgres });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock === true && t.world.writablePrimaries().includes('pg0'), 30_000);
    await t.dcs.store('pg7').touchMember({ conn_url: 'postgres://127.0.0.1:5439/postgres', api_url: 'http://127.0.0.1:8099/patroni', state: 'running', role: 'replica', tags: {}, extra: {} });
    await t.advance(500);
    const first = plans.findIndex((p) => p.create.some((c) => c.name === 'pg7'));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(plans[first + 1]).toEqual({ create: [], drop: ['ghost'], advance: [] });
    expect(pg0.logs.some((l) => l.msg === 'failed to sync the replication slots' && /has already been removed/.test(String((l.obj as { err?: unknown }).err)))).toBe(true);
  });
});

describe('dynamic configuration applied to PostgreSQL', () => {
  it('gives the port each stored version once, and again at the next read after a failure', async () => {
    r = rig();
    const t = r;
    const base = t.world.port('pg0');
    const applied: string[] = [];
    let fail = false;
    const applyDynamicConfig = async (config: { version: string }) => {
      applied.push(config.version);
      return !fail;
    };
    const postgres = new Proxy(base, {
      get: (target, key) => {
        if (key === 'applyDynamicConfig') return applyDynamicConfig;
        const v: unknown = Reflect.get(target, key);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const pg0 = t.engine('pg0', { postgres });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock === true && t.world.writablePrimaries().includes('pg0'), 30_000);
    await t.advance(30_000);
    const admin = t.dcs.store('admin');
    const first = (await admin.loadCluster()).config?.version;
    expect(applied).toEqual([first]);

    fail = true;
    expect(await admin.setConfig({ ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { parameters: { work_mem: '8MB' } } })).toBe(true);
    const second = (await admin.loadCluster()).config?.version as string;
    await t.advance(500);
    expect(applied.filter((v) => v === second)).toHaveLength(1);
    fail = false;
    await t.advance(10_000);
    expect(applied.filter((v) => v === second)).toHaveLength(2);
    await t.advance(30_000);
    expect(applied.filter((v) => v === second)).toHaveLength(2);
  });
});

describe('DCS faults from the primary', () => {
  it('unreachable: serves while the lease is valid, stops at the safety deadline; the replica takes over after expiry', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    const pg1 = engines['pg1'] as Engine;
    t.dcs.backend.faults.unreachable({ member: 'pg0' });
    const validUntil = pg0.store.hold().validUntil as number;
    expect(validUntil).toBeGreaterThan(t.clock.now());
    await t.until(() => !t.world.server('pg0').running, 40_000);
    const fencedAt = t.clock.now();
    // ttl 30 s, safety margin 5 s: stopped (within the 100 ms the clock moves per slice) at
    // validUntil − 5 s, before the lease could pass to anyone.
    expect(fencedAt).toBeGreaterThanOrEqual(validUntil - 5_000);
    expect(fencedAt).toBeLessThanOrEqual(validUntil - 5_000 + 100);
    expect(pg0.reports.some((x) => x.reason.startsWith('DCS is not accessible; continue to run as a leader'))).toBe(true);
    expect(pg0.logs.some((l) => l.msg.includes('safety deadline'))).toBe(true);
    await t.until(() => t.world.writablePrimaries().includes('pg1'), 60_000);
    expect(t.clock.now()).toBeGreaterThanOrEqual(validUntil);
    expect(pg1.reports.some((x) => x.reason === 'promoted self to leader by acquiring session lock')).toBe(true);
  });

  it('slower than the call deadline: cycles end at the deadline and the primary is fenced in time', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    const before = pg0.reports.length;
    t.dcs.backend.faults.unreachable({ member: 'pg0', mode: 'hang' });
    await t.advance(60_000);
    const during = pg0.reports.slice(before);
    // Each cycle waited for the DCS at most retry_timeout (+1 s slack), then went on.
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(during.every((x) => x.reason.startsWith('DCS is not accessible'))).toBe(true);
    expect(t.world.server('pg0').running).toBe(false);
    t.dcs.backend.faults.heal();
  });

  it('lease lost (session expired), nobody else took the lock: takes it back without a restart', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    t.dcs.backend.faults.expireSession('pg0');
    await t.until(() => pg0.reports.some((x) => x.reason === 'acquired session lock as a leader'), 30_000);
    await t.advance(11_000);
    expect(lastReason(pg0)).toBe('no action. I am (pg0), the leader with the lock');
    expect(t.world.writablePrimaries()).toEqual(['pg0']);
    // The replica stayed out of the race.
    expect(engines['pg1']?.reports.some((x) => x.reason.startsWith('promoted'))).toBe(false);
    expect(t.world.server('pg1')).toMatchObject({ role: 'replica', streaming: true });
  });

  it('lease lost and the lock taken by another member: demotes', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    t.dcs.backend.faults.expireSession('pg0');
    expect(await t.drive(t.dcs.store('pg9').acquireLeader())).toBe(true);
    await t.until(() => pg0.reports.some((x) => x.reason === 'demoting self because I do not have the lock and I was a leader; following nobody (read-only) because member pg9 does not exist'), 30_000);
    await t.until(() => t.world.server('pg0').state === 'running' && t.world.server('pg0').role === 'replica', 10_000);
    expect(t.world.writablePrimaries()).toEqual([]);
  });
});

describe('DCS faults from a replica', () => {
  it('unreachable: PostgreSQL is left alone, and it rejoins when the DCS is back', async () => {
    const { rig: t, engines } = await cluster();
    const pg1 = engines['pg1'] as Engine;
    t.dcs.backend.faults.unreachable({ member: 'pg1' });
    await t.advance(60_000);
    expect(lastReason(pg1)).toBe('DCS is not accessible');
    expect(t.world.server('pg1')).toMatchObject({ running: true, role: 'replica', streaming: true });
    // Its member key expired with its session; the leader is unaffected.
    expect(t.dcs.backend.snapshot().has('/service/demo/members/pg1')).toBe(false);
    expect(t.world.writablePrimaries()).toEqual(['pg0']);
    t.dcs.backend.faults.heal();
    await t.until(() => t.dcs.backend.snapshot().has('/service/demo/members/pg1'), 15_000);
    expect(lastReason(pg1)).toBe('no action. I am (pg1), a secondary, and following a leader (pg0)');
  });

  it('slower than the call deadline: its cycles end at the deadline', async () => {
    const { rig: t, engines } = await cluster();
    const pg1 = engines['pg1'] as Engine;
    const before = pg1.reports.length;
    t.dcs.backend.faults.unreachable({ member: 'pg1', mode: 'hang' });
    await t.advance(45_000);
    expect(pg1.reports.length - before).toBeGreaterThanOrEqual(2);
    expect(lastReason(pg1)).toBe('DCS is not accessible');
    expect(t.world.server('pg1').running).toBe(true);
    t.dcs.backend.faults.heal();
  });

  it('session lost: its member key is written again', async () => {
    const { rig: t } = await cluster();
    t.dcs.backend.faults.expireSession('pg1');
    expect(t.dcs.backend.snapshot().has('/service/demo/members/pg1')).toBe(false);
    await t.until(() => t.dcs.backend.snapshot().has('/service/demo/members/pg1'), 15_000);
    expect(t.world.writablePrimaries()).toEqual(['pg0']);
  });
});

describe('watchdog', () => {
  it('a leader arms the watchdog again once maintenance mode ends', async () => {
    r = rig({ ttl: 30, loopWait: 1, retryTimeout: 3 });
    const t = r;
    const calls: string[] = [];
    const watchdog = {
      activate: async () => (calls.push('activate'), true),
      keepalive: async () => void (calls.at(-1) === 'keepalive' || calls.push('keepalive')),
      disable: async () => void (calls.at(-1) === 'disable' || calls.push('disable')),
      healthy: true,
    };
    const pg0 = t.engine('pg0', { watchdog });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    expect(calls).toEqual(['activate', 'keepalive']);
    const config = async (pause: boolean) => {
      const current = (await pg0.store.loadCluster()).config;
      await pg0.store.setConfig({ ...(current?.value ?? {}), pause }, current?.version ?? null);
      pg0.loop.wakeup();
    };
    await t.drive(config(true));
    await t.until(() => calls.at(-1) === 'disable', 10_000);
    await t.advance(3000);
    expect(calls.at(-1)).toBe('disable');
    // The lock was kept all along: only the renewal can tell the watchdog to count again.
    await t.drive(config(false));
    await t.until(() => calls.at(-1) === 'keepalive', 10_000);
    expect(pg0.loop.status().holdsLock).toBe(true);
    expect(calls).toEqual(['activate', 'keepalive', 'disable', 'activate', 'keepalive']);
  });
});

describe('safety deadline', () => {
  it('fences a promotion in progress when renewals stall on a hung DCS, before the lease can expire', async () => {
    // Promotion takes 40 s here (a long end-of-recovery checkpoint, say).
    const { rig: t, engines } = await cluster(['pg0', 'pg1'], { promoteMs: 40_000 });
    const pg1 = engines['pg1'] as Engine;
    // pg0's machine dies; pg1 wins the lock and starts the promotion; then its DCS hangs.
    t.down.add('pg0');
    await t.drive(engines['pg0']?.loop.stop() ?? Promise.resolve());
    t.world.crash('pg0');
    await t.until(() => pg1.loop.status().running?.kind === 'promote', 60_000);
    const validUntil = pg1.store.hold().validUntil as number;
    t.dcs.backend.faults.unreachable({ member: 'pg1', mode: 'hang' });
    await t.until(() => pg1.logs.some((l) => l.msg.includes('safety deadline')), 40_000);
    const fencedAt = t.clock.now();
    await t.advance(1_000);
    expect(t.world.server('pg1').running).toBe(false);
    expect(t.world.writablePrimaries()).toEqual([]);
    // The promotion was still running; it was aborted, not completed.
    expect(pg1.reports.some((x) => x.reason === 'updated leader lock during promote')).toBe(true);
    expect(t.world.server('pg1').timeline).toBe(1);
    expect(pg1.loop.status().running).toBeNull();
    // Fenced at the lease's certain end less the 5 s margin, though every cycle was stuck on the DCS.
    expect(fencedAt).toBeGreaterThanOrEqual(validUntil - 5_000);
    expect(fencedAt).toBeLessThanOrEqual(validUntil - 5_000 + 100);
    t.dcs.backend.faults.heal();
  });
});

/**
 * A watchdog that notes, at each disarm, whether the member's PostgreSQL was still running then
 * (issue 15: it must be disarmed only once PostgreSQL is down).
 */
function recordingWatchdog(t: Rig, name: string): { calls: string[]; port: WatchdogPort } {
  const calls: string[] = [];
  const port: WatchdogPort = {
    activate: async () => (calls.push('activate'), true),
    keepalive: async () => void (calls.at(-1) === 'keepalive' || calls.push('keepalive')),
    disable: async () => void calls.push(`disable (PostgreSQL ${t.world.server(name).running ? 'running' : 'down'})`),
    healthy: true,
  };
  return { calls, port };
}

describe('fencing and the watchdog (issue 15)', () => {
  it('a fence during a promotion that holds the server still stops PostgreSQL, then disarms the watchdog', async () => {
    const { rig: t, engines } = await cluster(['pg0', 'pg1'], { promoteMs: 40_000 });
    await t.drive(engines['pg1']?.loop.stop() ?? Promise.resolve());
    const wd = recordingWatchdog(t, 'pg1');
    const pg1 = t.engine('pg1', { watchdog: wd.port });
    pg1.loop.start();
    t.down.add('pg0');
    await t.drive(engines['pg0']?.loop.stop() ?? Promise.resolve());
    t.world.crash('pg0');
    await t.until(() => pg1.loop.status().running?.kind === 'promote', 60_000);
    // The promotion holds the server as the controller's lifecycle lock does: a stop is refused.
    expect(t.world.server('pg1').busy).toBe('promote');
    t.dcs.backend.faults.unreachable({ member: 'pg1', mode: 'hang' });
    await t.until(() => pg1.logs.some((l) => l.msg.includes('safety deadline')), 40_000);
    await t.until(() => !t.world.server('pg1').running, 2_000);
    await t.advance(1_000);
    expect(t.world.server('pg1').running).toBe(false);
    expect(t.world.writablePrimaries()).toEqual([]);
    expect(wd.calls).toContain('disable (PostgreSQL down)');
    expect(wd.calls).not.toContain('disable (PostgreSQL running)');
    t.dcs.backend.faults.heal();
  });

  it('a fence that fails is tried again until PostgreSQL is down; the watchdog stays armed until then', async () => {
    r = rig();
    const t = r;
    const wd = recordingWatchdog(t, 'pg0');
    const pg0 = t.engine('pg0', { watchdog: wd.port });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    t.world.server('pg0').failNext.fence = 'kill failed';
    t.dcs.backend.faults.unreachable({ member: 'pg0', mode: 'hang' });
    await t.until(() => pg0.logs.some((l) => l.msg.startsWith('fencing PostgreSQL failed')), 40_000);
    const failedAt = t.clock.now();
    const disarmsAtFailure = wd.calls.filter((c) => c.startsWith('disable')).length;
    await t.until(() => !t.world.server('pg0').running, 5_000);
    // Down by the second attempt, a second later: not left until the next cycle's demote.
    expect(t.clock.now() - failedAt).toBeLessThanOrEqual(1_500);
    await t.advance(500);
    expect(disarmsAtFailure).toBe(0);
    expect(wd.calls.filter((c) => c.startsWith('disable'))).toEqual(['disable (PostgreSQL down)']);
    t.dcs.backend.faults.heal();
  });

  it('a demote disarms the watchdog only after PostgreSQL stopped', async () => {
    r = rig();
    const t = r;
    const wd = recordingWatchdog(t, 'pg0');
    const pg0 = t.engine('pg0', { watchdog: wd.port });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    t.dcs.backend.faults.expireSession('pg0');
    expect(await t.drive(t.dcs.store('pg9').acquireLeader())).toBe(true);
    await t.until(() => pg0.reports.some((x) => x.reason === 'demoting self because I do not have the lock and I was a leader; following nobody (read-only) because member pg9 does not exist'), 30_000);
    await t.until(() => t.world.server('pg0').role === 'replica' && t.world.server('pg0').running, 10_000);
    expect(wd.calls.filter((c) => c.startsWith('disable'))).toEqual(['disable (PostgreSQL down)']);
  });

  it('a switchover (graceful demote) disarms the watchdog only after PostgreSQL stopped, and nothing re-arms it', async () => {
    r = rig({ ttl: 30, loopWait: 1, retryTimeout: 3 });
    const t = r;
    const wd = recordingWatchdog(t, 'pg0');
    const pg0 = t.engine('pg0', { watchdog: wd.port });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    const pg1 = t.engine('pg1');
    pg1.loop.start();
    await t.until(() => t.world.server('pg1').streaming, 60_000);
    expect(await t.drive(pg0.store.setFailover({ leader: 'pg0', member: 'pg1' }))).toBe(true);
    pg0.loop.wakeup();
    await t.until(() => t.world.writablePrimaries().includes('pg1') && t.world.server('pg0').role === 'replica' && t.world.server('pg0').running, 60_000);
    await t.advance(5_000);
    expect(wd.calls).toEqual(['activate', 'keepalive', 'disable (PostgreSQL down)']);
  });

  it('a demote whose stop fails leaves the watchdog armed', async () => {
    r = rig();
    const t = r;
    const wd = recordingWatchdog(t, 'pg0');
    const pg0 = t.engine('pg0', { watchdog: wd.port });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    t.world.server('pg0').failNext.stop = 'the postmaster did not exit';
    t.dcs.backend.faults.expireSession('pg0');
    expect(await t.drive(t.dcs.store('pg9').acquireLeader())).toBe(true);
    await t.until(() => pg0.logs.some((l) => l.msg.includes('the postmaster did not exit')), 30_000);
    expect(wd.calls.filter((c) => c.startsWith('disable'))).toEqual([]);
  });
});

describe('PostgreSQL hangs', () => {
  it('a state query that never answers costs one deadline per cycle, not the loop', async () => {
    const { rig: t, engines } = await cluster(['pg0']);
    const pg0 = engines['pg0'] as Engine;
    t.world.server('pg0').frozen = true;
    const before = pg0.reports.length;
    await t.advance(45_000);
    const during = pg0.reports.slice(before);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.at(-1)?.reason).toBe('Error communicating with PostgreSQL. Will try again later');
    t.world.server('pg0').frozen = false;
  });
});

describe('fatal conditions and shutdown', () => {
  it('a data directory of another cluster stops the agent', async () => {
    r = rig();
    const t = r;
    const other = t.dcs.store('pgx');
    expect(await t.drive(other.setInitialize('7999999999999999999', null))).toBe(true);
    Object.assign(t.world.server('pg3'), { dataDirectory: 'initialized', systemId: '7300000000000000042', timeline: 1, lsn: 100, role: 'replica' });
    const pg3 = t.engine('pg3');
    pg3.loop.start();
    await t.until(() => pg3.loop.stopped, 5_000);
    expect(pg3.fatal).toEqual(['system ID mismatch, node pg3 belongs to a different cluster: 7999999999999999999 != 7300000000000000042']);
    expect(t.world.server('pg3').running).toBe(false);
  });

  it('shutdown stops PostgreSQL first, then releases the lock', async () => {
    r = rig();
    const t = r;
    const store = t.dcs.store('pg0');
    const runningAtRelease: boolean[] = [];
    const watched: ClusterStore = Object.create(store, {
      releaseLeader: {
        value: (o?: { timeoutMs?: number }) => {
          runningAtRelease.push(t.world.server('pg0').running);
          return store.releaseLeader(o);
        },
      },
    });
    const pg0 = t.engine('pg0', { store: watched });
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    await t.drive(pg0.loop.shutdown());
    expect(runningAtRelease).toEqual([false]);
    expect(t.dcs.backend.snapshot().has('/service/demo/leader')).toBe(false);
    expect(pg0.loop.stopped).toBe(true);
  });

  it('tells lock listeners when the lock is gained and when it is released, not at the next cycle', async () => {
    r = rig();
    const t = r;
    const pg0 = t.engine('pg0');
    const changes: { held: boolean; statusSays: boolean }[] = [];
    pg0.loop.onLockChange((held) => changes.push({ held, statusSays: pg0.loop.status().holdsLock }));
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);
    expect(changes).toEqual([{ held: true, statusSays: true }]);
    await t.drive(pg0.loop.shutdown());
    expect(changes).toEqual([{ held: true, statusSays: true }, { held: false, statusSays: false }]);
  });
});

describe('leader race', () => {
  it('asks the other members for their positions while it reads PostgreSQL, once per race, never while a leader holds the lock', async () => {
    r = rig();
    const t = r;
    const pg0 = t.engine('pg0');
    pg0.loop.start();
    await t.until(() => pg0.loop.status().holdsLock && t.world.writablePrimaries().includes('pg0'), 30_000);

    // pg1's state reads take 300 ms and its probes 200 ms, so the two can be seen to overlap.
    const reads: { start: number; end: number }[] = [];
    const probes: number[] = [];
    const port = t.world.port('pg1');
    const slowPort = new Proxy(port, {
      get(target, key) {
        if (key === 'state') {
          return async (signal: AbortSignal) => {
            const start = t.clock.now();
            await t.clock.sleep(300);
            const state = await target.state(signal);
            reads.push({ start, end: t.clock.now() });
            return state;
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as PostgresPort;
    const peers: PeerProbe = {
      async probe(targets) {
        probes.push(t.clock.now());
        await t.clock.sleep(200);
        return targets.map((x): PeerStatus => {
          const s = t.world.servers.get(x.name);
          if (t.down.has(x.name) || !s || !s.running || s.state !== 'running') return unreachable(x.name, 'no answer');
          return { name: x.name, reachable: true, inRecovery: s.role !== 'primary', walPosition: s.lsn, timeline: s.timeline, tags: {}, watchdogFailed: false };
        });
      },
    };
    const pg1 = t.engine('pg1', { postgres: slowPort, peers });
    const pg2 = t.engine('pg2');
    pg1.loop.start();
    pg2.loop.start();
    await t.until(() => t.world.server('pg1').streaming && t.world.server('pg2').streaming, 60_000);
    await t.advance(30_000);
    expect(probes).toEqual([]);

    t.down.add('pg0');
    await t.drive(pg0.loop.stop());
    t.world.crash('pg0');
    await t.until(() => t.world.writablePrimaries().length === 1, 60_000);
    await t.advance(5_000);

    const raced = pg1.reports.filter((x) => x.snapshot.peers !== null);
    expect(raced.length).toBeGreaterThanOrEqual(1);
    expect(raced[0]?.snapshot.peers?.map((p) => p.name)).toEqual(['pg2']);
    // Each race probed once, and each probe began during that cycle's state read.
    expect(probes).toHaveLength(raced.length);
    for (const at of probes) expect(reads.some((x) => x.start <= at && at < x.end)).toBe(true);
    expect(t.world.writablePrimaries()).toHaveLength(1);
  });
});

describe('members left out of a leader race (issue 16)', () => {
  it('a replica that cannot ask a member says why, before the race goes on without it', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    const tlsError = 'GET https://pg2:8008/patroni: TLS: pg2:8008 requires a client certificate (its restapi.verify_client) and none was presented: set ctl.certfile and ctl.keyfile';
    const peers: PeerProbe = { probe: async (targets) => targets.map((x) => unreachable(x.name, tlsError)) };
    const pg2 = t.engine('pg2', { peers });
    pg2.loop.start();
    await t.until(() => t.world.server('pg2').streaming, 60_000);
    t.down.add('pg0');
    await t.drive(pg0.loop.stop());
    t.world.crash('pg0');
    await t.until(() => t.world.writablePrimaries().length === 1, 60_000);
    const warned = pg2.logs.filter((l) => l.level === 'warn' && l.msg.startsWith('Request failed to pg1'));
    expect(warned[0]?.msg).toBe(`Request failed to pg1: ${tlsError}`);
    const raced = pg2.reports.find((x) => x.snapshot.peers !== null);
    expect(raced?.decision.notes).toContain('Member pg1 is not reachable');
  });
});

describe('failsafe pings (issue #15)', () => {
  it('a replica accepts a ping only from the lock holder it last read, and follows that member’s DCS conn_url, not the request’s', async () => {
    const { rig: t, engines } = await cluster();
    const pg0 = engines['pg0'] as Engine;
    const pg1 = engines['pg1'] as Engine;
    const current = (await t.drive(pg0.store.loadCluster())).config;
    await t.drive(pg0.store.setConfig({ ...(current?.value ?? {}), failsafe_mode: true }, current?.version ?? null));
    pg1.loop.wakeup();
    await t.advance(1_000);
    const evil = pg1.loop.failsafePing({ name: 'evil', conn_url: 'postgres://attacker:5432/postgres', api_url: 'http://attacker:8008/patroni' });
    expect(evil).toEqual({ kind: 'refused', status: 409, reason: 'name: "evil" is not the leader (the DCS last named pg0)' });
    const real = pg1.loop.failsafePing({ name: 'pg0', conn_url: 'postgres://attacker:5432/postgres', api_url: 'http://attacker:8008/patroni' });
    expect(real.kind).toBe('accepted');
    pg1.loop.wakeup();
    await t.advance(1_000);
    expect(pg1.reports.at(-1)?.snapshot.failsafePing).toMatchObject({ name: 'pg0', connUrl: 'postgres://pg0:5432/postgres', apiUrl: 'http://pg0:8008/patroni' });
  });
});
