import { DcsError, DcsErrorCode, createClusterStore, createMemoryBackend, systemClock } from '@pgha/dcs';
import type { CallOptions, DcsDriver, Logger, MemberData, MemoryBackend } from '@pgha/dcs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** A logger that keeps what it is given. */
function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string | undefined; obj: object | string }> } {
  const lines: Array<{ level: string; msg: string | undefined; obj: object | string }> = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The driver with some methods replaced (a fake around a real in-memory driver). */
function withOverrides(driver: DcsDriver, overrides: Partial<DcsDriver>): DcsDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      if (prop in overrides) return overrides[prop as keyof DcsDriver];
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const member: MemberData = {
  conn_url: 'postgres://127.0.0.1:5432/postgres',
  api_url: 'http://127.0.0.1:8008/patroni',
  state: 'running',
  role: 'replica',
  version: '0.1.0',
  tags: {},
  extra: {},
};

let backend: MemoryBackend;
let drivers: DcsDriver[];

function makeDriver(name: string): DcsDriver {
  const d = backend.createDriver({
    namespace: '/service',
    scope: 'batman',
    name,
    ttl: 10,
    loopWait: 1,
    retryTimeout: 3,
    section: {},
    clock: systemClock,
    logger: recordingLogger(),
  });
  drivers.push(d);
  return d;
}

beforeEach(() => {
  backend = createMemoryBackend();
  drivers = [];
});

afterEach(async () => {
  backend.faults.heal();
  await Promise.all(drivers.map((d) => d.close()));
});

describe('createClusterStore', () => {
  it('logs a failed status write after a good renewal and still reports the renewal', async () => {
    const logger = recordingLogger();
    const base = makeDriver('pg0');
    const driver = withOverrides(base, {
      write: () => Promise.reject(new DcsError(DcsErrorCode.Unavailable, 'etcd did not answer')),
    });
    const store = createClusterStore(driver, { name: 'pg0', logger });
    expect(await store.acquireLeader()).toBe(true);
    expect(await store.updateLeader({ optime: 100, slots: {}, retain_slots: [] })).toBe(true);
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'could not write /service/batman/status after renewing the leader lock',
    ]);
  });

  it('retries a status write that failed, and gives it only what is left of the deadline', async () => {
    const base = makeDriver('pg0');
    const timeouts: Array<number | undefined> = [];
    let failNext = true;
    const driver = withOverrides(base, {
      write: (key, value, expect, options?: CallOptions) => {
        timeouts.push(options?.timeoutMs);
        if (failNext) {
          failNext = false;
          return Promise.reject(new DcsError(DcsErrorCode.Unavailable, 'no answer'));
        }
        return base.write(key, value, expect, options);
      },
    });
    const store = createClusterStore(driver, { name: 'pg0', logger: recordingLogger() });
    expect(await store.acquireLeader()).toBe(true);
    const status = { optime: 100, slots: {}, retain_slots: [] };
    expect(await store.updateLeader(status, { timeoutMs: 2_000 })).toBe(true);
    expect(await store.updateLeader(status, { timeoutMs: 2_000 })).toBe(true);
    expect(await store.updateLeader(status, { timeoutMs: 2_000 })).toBe(true);
    expect(timeouts).toHaveLength(2);
    for (const t of timeouts) {
      expect(t).toBeGreaterThan(0);
      expect(t).toBeLessThanOrEqual(2_000);
    }
    expect(backend.snapshot().get('/service/batman/status')).toBe('{"optime":100}');
  });

  it('does not write status for a renewal that failed or when no status is given', async () => {
    const writes: string[] = [];
    const base = makeDriver('pg0');
    const driver = withOverrides(base, {
      write: (key, value, expect, options) => {
        writes.push(key);
        return base.write(key, value, expect, options);
      },
    });
    const store = createClusterStore(driver, { name: 'pg0', logger: recordingLogger() });
    expect(await store.updateLeader({ optime: 1, slots: {}, retain_slots: [] })).toBe(false);
    expect(await store.acquireLeader()).toBe(true);
    expect(await store.updateLeader()).toBe(true);
    expect(writes).toEqual([]);
  });

  it('rewrites status that another leader changed since our last write', async () => {
    const a = createClusterStore(makeDriver('pg0'), { name: 'pg0', logger: recordingLogger() });
    const b = createClusterStore(makeDriver('pg1'), { name: 'pg1', logger: recordingLogger() });
    const status = { optime: 100, slots: {}, retain_slots: [] };
    expect(await a.acquireLeader()).toBe(true);
    expect(await a.updateLeader(status)).toBe(true);
    expect(await a.releaseLeader()).toBe(true);
    expect(await b.acquireLeader()).toBe(true);
    expect(await b.updateLeader({ optime: 200, slots: {}, retain_slots: [] })).toBe(true);
    expect(await b.releaseLeader()).toBe(true);
    expect(await a.acquireLeader()).toBe(true);
    await a.loadCluster();
    expect(await a.updateLeader(status)).toBe(true);
    expect(backend.snapshot().get('/service/batman/status')).toBe('{"optime":100}');
  });

  it('rewrites the member key after a write whose outcome is unknown', async () => {
    const store = createClusterStore(makeDriver('pg0'), { name: 'pg0', logger: recordingLogger() });
    const d1 = { ...member, xlog_location: 1 };
    const d2 = { ...member, xlog_location: 2 };
    await store.touchMember(d1);
    // The write of d2 reaches the store but its answer comes after the deadline.
    backend.faults.slow(100);
    await expect(store.touchMember(d2, { timeoutMs: 10 })).rejects.toThrow(/no answer/);
    backend.faults.heal();
    expect(JSON.parse(backend.snapshot().get('/service/batman/members/pg0')!).xlog_location).toBe(2);
    await store.touchMember(d1);
    expect(JSON.parse(backend.snapshot().get('/service/batman/members/pg0')!).xlog_location).toBe(1);
  });

  it('logs every unreadable value once per load, naming the cluster', async () => {
    const logger = recordingLogger();
    const d = makeDriver('pg0');
    expect(await d.write('config', '{bad', { kind: 'any' })).toBe(true);
    expect(await d.write('sync', '[]', { kind: 'any' })).toBe(true);
    const store = createClusterStore(d, { name: 'pg0', logger });
    const c = await store.loadCluster();
    expect(c.warnings).toHaveLength(2);
    const warned = logger.lines.filter((l) => l.level === 'warn');
    expect(warned).toHaveLength(2);
    expect(warned.every((l) => l.msg?.includes('/service/batman/'))).toBe(true);
  });

  // pgha issue 15: a value that stays unreadable is reported once per change, not on every cycle's load.
  it('logs an unreadable value again only when it changes', async () => {
    const logger = recordingLogger();
    const d = makeDriver('pg0');
    expect(await d.write('config', '{bad', { kind: 'any' })).toBe(true);
    const store = createClusterStore(d, { name: 'pg0', logger });
    for (let i = 0; i < 3; i++) expect((await store.loadCluster()).configError?.value).toBe('config: not valid JSON: "{bad"');
    expect(await d.write('config', '{worse', { kind: 'any' })).toBe(true);
    await store.loadCluster();
    await store.loadCluster();
    expect(logger.lines.filter((l) => l.level === 'warn').map((l) => (l.obj as { warning?: string }).warning)).toEqual([
      'config: not valid JSON: "{bad"',
      'config: not valid JSON: "{worse"',
    ]);
  });

  it('propagates DCS_UNAVAILABLE from the driver', async () => {
    const store = createClusterStore(makeDriver('pg0'), { name: 'pg0', logger: recordingLogger() });
    backend.faults.unreachable();
    await expect(store.loadCluster()).rejects.toMatchObject({ code: 'DCS_UNAVAILABLE' });
    await expect(store.touchMember(member)).rejects.toMatchObject({ code: 'DCS_UNAVAILABLE' });
    await expect(store.setConfig({})).rejects.toMatchObject({ code: 'DCS_UNAVAILABLE' });
  });

  it('passes the hold, timing, watch and close through to the driver', async () => {
    const d = makeDriver('pg0');
    const store = createClusterStore(d, { name: 'pg0', logger: recordingLogger() });
    expect(store.driver).toBe(d);
    expect(store.name).toBe('pg0');
    expect(store.hold().validUntil).toBeNull();
    await store.setTiming({ ttl: 20, loopWait: 5, retryTimeout: 5 });
    expect(await store.acquireLeader()).toBe(true);
    expect(store.hold().ttl).toBe(20);
    const events: string[] = [];
    const stop = store.watch((e) => events.push(e.key));
    expect(await makeDriver('pg1').write('config', '{}', { kind: 'any' })).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(events).toEqual(['config']);
    stop();
    await store.close({ revoke: true });
    expect(backend.snapshot().has('/service/batman/leader')).toBe(false);
  });
});
