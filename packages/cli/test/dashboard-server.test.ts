// The dashboard's HTTP server (issue #18) with a fake collector: the page and uPlot are served,
// GET /api/view gives the newest sample's view, anything but GET is refused. And `--listen`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCluster, type Member } from '@pgha/dcs';
import { waitFor } from '@pgha/test-servers';
import { parseListen } from '../src/commands/dashboard.ts';
import { startDashboard, type Dashboard } from '../src/dashboard/server.ts';
import type { ApiRequest } from '../src/member-api.ts';

const member = (name: string, role: string) => JSON.stringify({ conn_url: `postgres://127.0.0.1:5432/postgres`, api_url: `http://${name}:8008/patroni`, state: 'running', role, xlog_location: 1000 });
const cluster = decodeCluster({
  nodes: new Map(
    Object.entries({ initialize: '7300000000000000001', leader: 'pg0', 'members/pg0': member('pg0', 'primary'), 'members/pg1': member('pg1', 'replica') }).map(([k, value]) => [k, { value, version: '1' }]),
  ),
});

let dashboard: Dashboard;
const calls: string[] = [];

beforeAll(async () => {
  dashboard = await startDashboard({
    scope: 'demo',
    host: '127.0.0.1',
    port: 0,
    intervalMs: 50,
    loadCluster: async () => cluster,
    api: async (m: Member, req: ApiRequest) => {
      calls.push(`${req.method} ${m.name} /${req.endpoint}`);
      if (req.endpoint === 'metrics') return { status: 200, body: 'pgha_lock_renewal_age_seconds{scope="demo",name="pg0"} 1.5\n' };
      if (req.endpoint === 'patroni') return { status: 200, body: JSON.stringify({ state: 'running', replication_state: m.name === 'pg1' ? 'streaming' : undefined }) };
      return { status: 200, body: JSON.stringify({ member: m.name, capacity: 100, decisions: [] }) };
    },
    now: () => Date.parse('2026-01-01T00:00:00.000Z'),
    onError: (e) => {
      throw e;
    },
  });
});

afterAll(async () => {
  await dashboard?.close();
});

describe('dashboard server', () => {
  it('serves the page, its script and style, and uPlot from node_modules', async () => {
    const page = await fetch(dashboard.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe("default-src 'self'; frame-ancestors 'none'");
    const html = await page.text();
    for (const src of ['/app.js', '/style.css', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css']) {
      expect(html).toContain(`"${src}"`);
      const r = await fetch(new URL(src, dashboard.url));
      expect([src, r.status]).toEqual([src, 200]);
    }
    expect(await (await fetch(new URL('/vendor/uPlot.iife.min.js', dashboard.url))).text()).toContain('uPlot');
    expect((await fetch(new URL('/nothing', dashboard.url))).status).toBe(404);
  });

  it('GET /api/view: the view of the newest sample', async () => {
    let status = 0;
    await waitFor('a first sample', async () => (status = (await fetch(new URL('/api/view', dashboard.url))).status) === 200, 10_000, 20);
    expect(status).toBe(200);
    const view = (await (await fetch(new URL('/api/view', dashboard.url))).json()) as { leader: unknown; members: { name: string; state: string }[]; lagData: number[][]; ageS: number };
    expect(view.leader).toEqual({ name: 'pg0', ttlS: 30, renewalAgeS: 1.5, remainingS: 28.5 });
    // The fake clock stands still: the sample is served at age 0.
    expect(view.ageS).toBe(0);
    expect(view.members.map((m) => [m.name, m.state])).toEqual([['pg0', 'running'], ['pg1', 'streaming']]);
    expect(view.lagData[0]!.length).toBeGreaterThan(0);
  });

  it('is read-only: other methods are refused, and it only ever GETs from the members', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await fetch(new URL('/api/view', dashboard.url), { method });
      expect([method, r.status, r.headers.get('allow')]).toEqual([method, 405, 'GET, HEAD']);
    }
    expect(calls.length).toBeGreaterThan(0);
    expect(new Set(calls.map((c) => c.split(' ')[0]))).toEqual(new Set(['GET']));
    expect(new Set(calls.map((c) => c.split(' ')[2]))).toEqual(new Set(['/patroni', '/decisions?limit=50', '/metrics']));
  });
});

describe('--listen', () => {
  it('HOST:PORT and [IPv6]:PORT; anything else is a usage error', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('localhost:9000')).toEqual({ host: 'localhost', port: 9000 });
    for (const bad of ['8080', '127.0.0.1', '127.0.0.1:99999', ':80', '::1:80']) {
      expect(() => parseListen(bad)).toThrow(`Invalid value for '--listen': '${bad}' is not HOST:PORT (for example 127.0.0.1:8080).`);
    }
  });
});
