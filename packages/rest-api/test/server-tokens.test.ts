// `restapi.server_tokens` (Patroni 4.1), against the real server: the Server header on every
// response, errors included, and nothing about pgha's, Node's or PostgreSQL's version in any error
// (pgha issue 16).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type DcsDriver } from '@pgha/dcs';
import { createApiServer, serverHeader, type ApiServer, type ServerTokens } from '../src/server.js';
import { managementOn, snapshot } from './fixtures.js';

const VERSION = '7.8.9';
const backend = createMemoryBackend();
const drivers: DcsDriver[] = [];
const driver = backend.createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'tokens', name: 'pg1', section: {}, clock: systemClock, logger: silentLogger });
drivers.push(driver);
const store = createClusterStore(driver, { name: 'pg1', logger: silentLogger });
const servers: ApiServer[] = [];
const auth = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`, 'Content-Type': 'application/json' };

async function start(serverTokens: ServerTokens | undefined, extra: Record<string, string> = {}): Promise<string> {
  const api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    authentication: { username: 'admin', password: 'secret' },
    now: () => systemClock.now(),
    logger: silentLogger,
    management: { ...managementOn(store), loadCluster: () => Promise.reject(new Error('etcd: no leader')) },
    ...(serverTokens ? { serverTokens } : {}),
    version: VERSION,
    httpExtraHeaders: extra,
  });
  servers.push(api);
  api.publish(snapshot({ role: 'replica', server_version: 150004 }));
  return `http://127.0.0.1:${(await api.listen()).port}`;
}

/** Status, Server header, and every header and body byte of the answer, for version hunting. */
async function answer(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; server: string | null; text: string }> {
  const res = await fetch(`${base}${path}`, init);
  const body = await res.text();
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
  return { status: res.status, server: res.headers.get('server'), text: `${headers}\n\n${body}` };
}

/** A request node's HTTP parser refuses (node writes the 400 itself). */
function malformed(base: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'));
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

let bases: Record<string, string>;

beforeAll(async () => {
  bases = {
    unset: await start(undefined),
    original: await start('original'),
    productonly: await start('productonly'),
    minimal: await start('minimal'),
    overridden: await start('minimal', { Server: 'front-door' }),
  };
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(drivers.map((d) => d.close()));
});

/** A healthy 200, the hot health-check path, and the error answers: 404, 501, 400, 401, 413, 503. */
const requests: [string, string, RequestInit][] = [
  ['GET /patroni', '/patroni', {}],
  ['GET /replica', '/replica', {}],
  ['HEAD /primary', '/primary', { method: 'HEAD' }],
  ['GET unknown', '/no/such/path', {}],
  ['POST /config', '/config', { method: 'POST', headers: auth, body: '{}' }],
  ['PATCH bad JSON', '/config', { method: 'PATCH', headers: auth, body: '{"ttl":' }],
  ['PATCH no auth', '/config', { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: '{}' }],
  ['PATCH too big', '/config', { method: 'PATCH', headers: auth, body: JSON.stringify({ x: 'a'.repeat(70_000) }) }],
  ['PATCH DCS down', '/config', { method: 'PATCH', headers: auth, body: '{"pause":true}' }],
];

describe('restapi.server_tokens', () => {
  it("builds the header as Patroni's construct_server_tokens does", () => {
    expect(serverHeader(undefined, VERSION)).toBeNull();
    expect(serverHeader('original', VERSION)).toBeNull();
    expect(serverHeader('productonly', VERSION)).toBe('pgha');
    expect(serverHeader('minimal', VERSION)).toBe('pgha/7.8.9');
  });

  it('original (the default) sends no Server header, as before', async () => {
    for (const which of ['unset', 'original']) {
      for (const [what, path, init] of requests) {
        const a = await answer(bases[which]!, path, init);
        expect([which, what, a.server]).toEqual([which, what, null]);
      }
    }
  });

  it('productonly and minimal send the header on every answer, errors included', async () => {
    const statuses: number[] = [];
    for (const [which, expected] of [['productonly', 'pgha'], ['minimal', 'pgha/7.8.9']] as const) {
      for (const [what, path, init] of requests) {
        const a = await answer(bases[which]!, path, init);
        expect([which, what, a.server]).toEqual([which, what, expected]);
        if (which === 'minimal') statuses.push(a.status);
      }
    }
    expect(statuses).toEqual([200, 200, 503, 404, 501, 400, 401, 413, 503]);
    // An explicit Server among http_extra_headers wins (one header, not two).
    expect((await answer(bases['overridden']!, '/no/such/path')).server).toBe('front-door');
  });

  it('productonly: no version anywhere in an error; minimal: only pgha/<version> in the Server header', async () => {
    const versions = [VERSION, process.version, process.versions.node, '15.4', '150004'];
    for (const which of ['productonly', 'minimal']) {
      for (const [what, path, init] of requests.slice(3)) {
        const { text } = await answer(bases[which]!, path, init);
        const rest = text.replace(/^server: pgha\/7\.8\.9$/m, '');
        for (const v of versions) expect([which, what, v, rest.includes(v)]).toEqual([which, what, v, false]);
      }
      // What node's parser answers by itself carries no Server header and no version either.
      const raw = await malformed(bases[which]!);
      expect(raw.startsWith('HTTP/1.1 400 Bad Request\r\n')).toBe(true);
      for (const v of versions) expect(raw.includes(v)).toBe(false);
    }
  });
});
