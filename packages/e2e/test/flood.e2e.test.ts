/**
 * Issue 16, end to end: the REST API flooded while the HA cycle must keep its deadlines. Three
 * pgha members on etcd (ttl 10, loop_wait 1, Basic auth on the API). `wrk` floods the primary's
 * health endpoint from 127.0.0.1 while slow-body clients hold management requests open, and an
 * operator sends a `PATCH /config` every second from 127.0.0.2. The primary must keep its lock
 * (never fenced, nobody else promoted) and every operator call must be answered. The longest
 * gap between renewals under this load is measured by tools/bench/src/flood.ts
 * (docs/benchmarks.md); here only the outcomes count.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '@pgha/local-cluster';
import { operatorPatch, runWrk, slowBodyClient, type CallOutcome } from '@pgha/test-servers';
import { WAIT_MS, tail, waitForStreaming } from './support/cluster-checks.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const USER = { username: 'ops', password: 'flood-e2e' };
const FLOOD_SECONDS = 12;
const SLOW_CLIENTS = 32;
const echo = process.env['PGHA_E2E_ECHO'] === '1';

describe('a health-check flood and slow-body clients against the primary, on etcd', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 3, scope: 'flood', timing: TIMING, dcs: 'etcd', restapi: { authentication: USER }, echo });
    await waitForStreaming(cluster, await cluster.waitForPrimary(WAIT_MS));
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('the primary keeps its lock and the operator is answered throughout', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const port = Number(new URL(primary.apiUrl).port);
    const slow: Socket[] = [];
    for (let i = 0; i < SLOW_CLIENTS; i++) slow.push(slowBodyClient('127.0.0.1', port, USER));
    const flood = runWrk(`${primary.apiUrl}/health`, { threads: 1, connections: 100, seconds: FLOOD_SECONDS });
    const outcomes: CallOutcome[] = [];
    const started = Date.now();
    try {
      while (Date.now() - started < FLOOD_SECONDS * 1000) {
        outcomes.push(await operatorPatch('127.0.0.1', port, '127.0.0.2', USER));
        await new Promise((r) => setTimeout(r, 1000));
      }
      const rps = await flood;
      expect(rps).toBeGreaterThan(0);
    } finally {
      for (const s of slow) s.destroy();
    }
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    const output = primary.output();
    expect(output, tail(primary)).not.toContain('before the safety deadline');
    expect(output).not.toContain('demoting self');
    const now = await cluster.waitForPrimary(WAIT_MS);
    expect(now.name).toBe(primary.name);
    for (const m of cluster.members) if (m !== primary) expect(m.output()).not.toContain('promoted self to leader');
  }, 180_000);
});
