// GET /decisions and the decision metrics (issue #18).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock } from '@pgha/dcs';
import type { DecisionRecord } from '@pgha/ha-engine';
import { createApiMetrics } from '../src/metrics.js';
import { createApiServer, type ApiServer } from '../src/server.js';
import { managementOn, snapshot } from './fixtures.js';

const record = (code: DecisionRecord['code'], reason: string): DecisionRecord => ({
  time: '2026-01-01T00:00:00.000Z',
  count: 1,
  rule: 'lock-free',
  code,
  reason,
  actions: [],
  notes: [],
  facts: {
    leader: null, lock: 'free', role: 'replica', state: 'running', timeline: 1, clusterTimeline: 1, lsn: 10, receivedLsn: 10, replayedLsn: 10,
    primaryLsn: 10, lagBytes: 0, replayLagMs: null, tags: {}, sync: null, paused: false, failover: null,
  },
  candidates: [{ member: 'pg1', verdict: 'excluded', gate: 'nofailover', detail: 'I am not allowed to promote' }],
});

const records = [record('race.lost.not-allowed', 'following a different leader because I am not allowed to promote'), record('follow.leader', 'no action. I am (pg1), a secondary, and following a leader (pg0)')];
const metrics = createApiMetrics(() => 12_500);
let api: ApiServer;
let base = '';

beforeAll(async () => {
  const driver = createMemoryBackend().createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'demo', name: 'pg1', section: {}, clock: systemClock, logger: silentLogger });
  api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    now: () => systemClock.now(),
    logger: silentLogger,
    management: { ...managementOn(createClusterStore(driver, { name: 'pg1', logger: silentLogger })), clearFailover: async () => true },
    metrics,
    decisions: { capacity: 100, list: (limit) => (limit === undefined ? records : records.slice(-limit)) },
  });
  api.publish(snapshot());
  const address = await api.listen();
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await api.close();
});

describe('GET /decisions', () => {
  it('answers the records, oldest first, with the member and the capacity', async () => {
    const res = await fetch(`${base}/decisions`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ member: 'pg1', capacity: 100, decisions: records });
  });

  it('?limit=N keeps the N newest; a bad limit is a 400 naming it', async () => {
    expect(((await (await fetch(`${base}/decisions?limit=1`)).json()) as { decisions: DecisionRecord[] }).decisions.map((d) => d.code)).toEqual(['follow.leader']);
    const bad = await fetch(`${base}/decisions?limit=-2`);
    expect([bad.status, await bad.text()]).toEqual([400, 'limit: expected a whole number >= 0, got "-2"']);
  });
});

describe('decision metrics', () => {
  it('counts cycles per reason code and shows the age of the last lock renewal', async () => {
    const before = await (await fetch(`${base}/metrics`)).text();
    expect(before).toContain('pgha_lock_renewal_age_seconds{scope="demo",name="pg1"} -1');
    metrics.countDecision('leader.renewed');
    metrics.countDecision('leader.renewed');
    metrics.countDecision('race.won');
    metrics.lockRenewedAt(10_000);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text.split('\n').filter((l) => l.startsWith('pgha_decisions_total') || l.startsWith('pgha_lock_renewal'))).toEqual([
      'pgha_decisions_total{scope="demo",name="pg1",code="leader.renewed"} 2',
      'pgha_decisions_total{scope="demo",name="pg1",code="race.won"} 1',
      'pgha_lock_renewal_age_seconds{scope="demo",name="pg1"} 2.5',
    ]);
  });
});
