import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type ClusterStore, type DcsDriver } from '@pgha/dcs';
import { createApiServer, type ApiServer } from '../src/server.js';
import { snapshot } from './fixtures.js';

const timing = { ttl: 10, loopWait: 1, retryTimeout: 2 };
const backend = createMemoryBackend();
const drivers: DcsDriver[] = [];
function store(name: string): ClusterStore {
  const driver = backend.createDriver({ ...timing, namespace: '/service', scope: 'api', name, section: {}, clock: systemClock, logger: silentLogger });
  drivers.push(driver);
  return createClusterStore(driver, { name, logger: silentLogger });
}

const pg0 = store('pg0');
const pg1 = store('pg1');
let api: ApiServer;
let base: string;
let wakeups = 0;
const auth = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`, 'Content-Type': 'application/json' };

beforeAll(async () => {
  for (const [s, role] of [[pg0, 'primary'], [pg1, 'replica']] as const) {
    await s.touchMember({ role, state: 'running', api_url: 'http://127.0.0.1:1/patroni', conn_url: 'postgres://127.0.0.1:5432/postgres', tags: {}, extra: {} });
  }
  expect(await pg0.acquireLeader()).toBe(true);
  api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    authentication: { username: 'admin', password: 'secret' },
    now: () => systemClock.now(),
    logger: silentLogger,
    management: {
      loadCluster: () => pg1.loadCluster(),
      setFailover: (f) => pg1.setFailover(f),
      clearFailover: (v) => pg1.clearFailover(v),
      setConfig: (c, v) => pg1.setConfig(c, v),
      wakeup: () => void wakeups++,
      waitForChange: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      now: () => systemClock.now(),
      wallNow: () => new Date(),
      loopWait: () => 1,
    },
  });
  const address = await api.listen();
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await api.close();
  await Promise.all(drivers.map((d) => d.close()));
});

describe('REST API server', () => {
  it('answers 503 with a starting body before the first cycle is published', async () => {
    const res = await fetch(`${base}/primary`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ state: 'starting', role: 'uninitialized' });
  });

  it('answers health checks and /patroni from the published snapshot, HEAD without a body', async () => {
    api.publish(snapshot({ role: 'replica' }));
    const res = await fetch(`${base}/replica`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as { role: string }).role).toBe('replica');
    expect((await fetch(`${base}/primary`)).status).toBe(503);
    const head = await fetch(`${base}/replica`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect((await fetch(`${base}/patroni`)).status).toBe(200);
    expect((await fetch(`${base}/no-such-endpoint`)).status).toBe(404);
  });

  it('requires Basic auth on management calls and rejects bad bodies', async () => {
    const noAuth = await fetch(`${base}/switchover`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
    expect([noAuth.status, await noAuth.text(), noAuth.headers.get('www-authenticate')]).toEqual([401, 'no auth header received', 'Basic realm="Patroni"']);
    const wrong = await fetch(`${base}/switchover`, { method: 'POST', body: '{}', headers: { Authorization: 'Basic eDp5', 'Content-Type': 'application/json' } });
    expect([wrong.status, await wrong.text()]).toEqual([401, 'not authenticated']);
    const garbage = await fetch(`${base}/switchover`, { method: 'POST', body: '{"leader":', headers: auth });
    expect(garbage.status).toBe(400);
    const noLeader = await fetch(`${base}/switchover`, { method: 'POST', body: '{"candidate":"pg1"}', headers: auth });
    expect([noLeader.status, await noLeader.text()]).toEqual([400, 'Switchover could be performed only from a specific leader']);
    const wrongLeader = await fetch(`${base}/switchover`, { method: 'POST', body: '{"leader":"pg9","candidate":"pg1"}', headers: auth });
    expect([wrongLeader.status, await wrongLeader.text()]).toEqual([412, 'leader name does not match']);
    const ghost = await fetch(`${base}/switchover`, { method: 'POST', body: '{"leader":"pg0","candidate":"pg7"}', headers: auth });
    expect([ghost.status, await ghost.text()]).toEqual([412, 'candidate does not exists']);
    const past = await fetch(`${base}/switchover`, { method: 'POST', body: '{"leader":"pg0","scheduled_at":"2001-01-01T00:00:00+00:00"}', headers: auth });
    expect([past.status, await past.text()]).toEqual([422, 'Cannot schedule switchover in the past']);
    const noFailoverCandidate = await fetch(`${base}/failover`, { method: 'POST', body: '{}', headers: auth });
    expect([noFailoverCandidate.status, await noFailoverCandidate.text()]).toEqual([400, 'Failover could be performed only to a specific candidate']);
    // Nothing of this reached the DCS.
    expect((await pg1.loadCluster()).failover).toBeNull();
  });

  it('records a switchover in the failover key, wakes the loop and reports the new leader', async () => {
    // Play the HA loops' part: when the intent appears, the leader steps down and the candidate takes the lock.
    const stop = pg1.watch(() => {
      void (async () => {
        const c = await pg1.loadCluster();
        if (c.failover?.value.member === 'pg1' && c.leader?.name === 'pg0') {
          await pg0.releaseLeader();
          await pg1.acquireLeader();
          await pg1.clearFailover();
        }
      })();
    });
    const before = wakeups;
    const res = await fetch(`${base}/switchover`, { method: 'POST', body: JSON.stringify({ leader: 'pg0', candidate: 'pg1' }), headers: auth });
    stop();
    expect([res.status, await res.text()]).toEqual([200, 'Successfully switched over to "pg1"']);
    expect(wakeups).toBe(before + 1);
    expect((await pg1.loadCluster()).leader?.name).toBe('pg1');
  });

  it('schedules a switchover for later with 202', async () => {
    const at = new Date(Date.now() + 3600_000).toISOString();
    const res = await fetch(`${base}/switchover`, { method: 'POST', body: JSON.stringify({ leader: 'pg1', scheduled_at: at }), headers: auth });
    expect([res.status, await res.text()]).toEqual([202, 'Switchover scheduled']);
    expect((await pg1.loadCluster()).failover?.value).toEqual({ leader: 'pg1', scheduled_at: at });
  });
});
