import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type ClusterStore, type DcsDriver } from '@pgha/dcs';
import { makeEtcdCertificates, seededRandom, tempDir } from '@pgha/test-servers';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../src/server.js';
import { cluster, managementOn, member, snapshot } from './fixtures.js';

const backend = createMemoryBackend();
const drivers: DcsDriver[] = [];
function store(name: string): ClusterStore {
  const driver = backend.createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'sec', name, section: {}, clock: systemClock, logger: silentLogger });
  drivers.push(driver);
  return createClusterStore(driver, { name, logger: silentLogger });
}
const pg0 = store('pg0');
const servers: ApiServer[] = [];
const JSON_BODY = { 'Content-Type': 'application/json' };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
let dir: { path: string; remove(): Promise<void> } | undefined;
let pem: { ca: Buffer; cert: Buffer; key: Buffer; clientCert: Buffer; clientKey: Buffer };

function options(over: Partial<ApiServerOptions>): ApiServerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    now: () => systemClock.now(),
    logger: silentLogger,
    management: managementOn(pg0),
    ...over,
  };
}

async function start(over: Partial<ApiServerOptions>): Promise<{ api: ApiServer; port: number }> {
  const api = createApiServer(options(over));
  servers.push(api);
  const { port } = await api.listen();
  api.publish({ ...snapshot({ role: 'master' }), hasLock: true, cluster: await pg0.loadCluster() });
  return { api, port };
}

/** An HTTPS request trusting the test CA, with or without the client certificate. */
function tlsRequest(port: number, method: string, path: string, opts: { clientCert?: boolean; body?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: pem.ca,
        ...(opts.clientCert ? { cert: pem.clientCert, key: pem.clientKey } : {}),
        headers: { 'Content-Length': Buffer.byteLength(opts.body ?? ''), ...(opts.headers ?? {}) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(opts.body ?? '');
  });
}

beforeAll(async () => {
  await pg0.touchMember({ role: 'primary', state: 'running', api_url: 'http://127.0.0.1:1/patroni', conn_url: 'postgres://127.0.0.1:5432/postgres', tags: {}, extra: {} });
  await pg0.acquireLeader();
  await pg0.setConfig({ ttl: 10, loop_wait: 1 });
  dir = await tempDir('pgha-api-tls-');
  const files = await makeEtcdCertificates(dir.path);
  pem = {
    ca: await readFile(files.caFile),
    cert: await readFile(files.certFile),
    key: await readFile(files.keyFile),
    clientCert: await readFile(files.clientCertFile),
    clientKey: await readFile(files.clientKeyFile),
  };
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(drivers.map((d) => d.close()));
  await dir?.remove();
});

describe('TLS', () => {
  it('serves health checks over HTTPS with https_extra_headers, and unsafe calls need a client certificate when verify_client is optional', async () => {
    const { port } = await start({
      tls: { cert: pem.cert, key: pem.key, ca: pem.ca, verifyClient: 'optional' },
      authentication: { username: 'admin', password: 'secret' },
      httpExtraHeaders: { 'X-Http': 'a' },
      httpsExtraHeaders: { 'Strict-Transport-Security': 'max-age=31536000' },
    });
    const health = await tlsRequest(port, 'GET', '/primary');
    expect(health.status).toBe(200);
    expect(health.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(health.headers['x-http']).toBe('a');
    const noCert = await tlsRequest(port, 'PATCH', '/config', { body: '{"loop_wait":2}', headers: { Authorization: basic('admin', 'secret') } });
    expect([noCert.status, noCert.body]).toEqual([403, 'client certificate required']);
    const withCert = await tlsRequest(port, 'PATCH', '/config', { clientCert: true, body: '{"loop_wait":2}', headers: { Authorization: basic('admin', 'secret') } });
    expect(withCert.status).toBe(200);
    expect((await pg0.loadCluster()).config?.value['loop_wait']).toBe(2);
    const certNoAuth = await tlsRequest(port, 'PATCH', '/config', { clientCert: true, body: '{"loop_wait":3}' });
    expect([certNoAuth.status, certNoAuth.body]).toEqual([401, 'no auth header received']);
  });

  it('refuses the handshake without a client certificate when verify_client is required', async () => {
    const { port } = await start({ tls: { cert: pem.cert, key: pem.key, ca: pem.ca, verifyClient: 'required' } });
    await expect(tlsRequest(port, 'GET', '/primary')).rejects.toThrow();
    expect((await tlsRequest(port, 'GET', '/primary', { clientCert: true })).status).toBe(200);
  });
});

describe('allowlist', () => {
  it('denies unsafe calls from addresses outside the allowlist with 403 and leaves GETs open', async () => {
    const { port: denied } = await start({ allowlist: ['10.0.0.0/8', '192.168.1.7'] });
    const res = await fetch(`http://127.0.0.1:${denied}/config`, { method: 'PATCH', body: '{"loop_wait":1}', headers: JSON_BODY });
    expect([res.status, await res.text()]).toEqual([403, 'Access is denied']);
    expect((await fetch(`http://127.0.0.1:${denied}/primary`)).status).toBe(200);
    const { port: allowed } = await start({ allowlist: ['127.0.0.0/8'] });
    expect((await fetch(`http://127.0.0.1:${allowed}/config`, { method: 'PATCH', body: '{"loop_wait":1}', headers: JSON_BODY })).status).toBe(200);
    const { port: localhost } = await start({ allowlist: ['localhost'] });
    expect((await fetch(`http://127.0.0.1:${localhost}/config`, { method: 'PATCH', body: '{"loop_wait":1}', headers: JSON_BODY })).status).toBe(200);
  });

  it('allows the members\u2019 hosts with allowlist_include_members', async () => {
    const { port } = await start({ allowlist: ['10.9.9.9'], allowlistIncludeMembers: true });
    // pg0's api_url and conn_url are on 127.0.0.1.
    const res = await fetch(`http://127.0.0.1:${port}/config`, { method: 'PATCH', body: '{"loop_wait":1}', headers: JSON_BODY });
    expect([res.status, await res.text()]).toEqual([200, expect.any(String)]);
  });
});

describe('allowlist_include_members with member host names (issue 16)', () => {
  /** A logger that keeps its warnings. */
  const recording = () => {
    const warnings: string[] = [];
    const push = (o: object | string, m?: string) => void warnings.push(typeof o === 'string' ? o : (m ?? ''));
    return { warnings, logger: { info: () => {}, debug: () => {}, warn: push } };
  };
  const patch = (port: number) => fetch(`http://127.0.0.1:${port}/config`, { method: 'PATCH', body: '{"loop_wait":1}', headers: JSON_BODY }).then(async (r) => [r.status, await r.text()] as const);
  /** Publishes a cluster whose only other member is at `host` (api_url and conn_url). */
  const publishMember = (api: ApiServer, host: string) =>
    api.publish({ ...snapshot({ role: 'master' }), hasLock: true, cluster: cluster({ members: [member('pg0', { role: 'primary', api_url: 'http://10.1.1.1:8008/patroni' }), member('pg1', { api_url: `http://${host}:8008/patroni`, conn_url: `postgres://${host}:5432/postgres` })] }) });

  it('admits the address of a member whose api_url host is `localhost` (resolved with the system resolver)', async () => {
    const { api, port } = await start({ allowlistIncludeMembers: true });
    publishMember(api, '10.9.9.9');
    expect(await patch(port)).toEqual([403, 'Access is denied']);
    publishMember(api, 'localhost');
    expect((await patch(port))[0]).toBe(200);
  });

  it('refuses, and logs once, a member name that does not resolve; other members still pass', async () => {
    const { warnings, logger } = recording();
    const { api, port } = await start({ allowlistIncludeMembers: true, logger });
    publishMember(api, 'pg1.invalid');
    expect(await patch(port)).toEqual([403, 'Access is denied']);
    expect(await patch(port)).toEqual([403, 'Access is denied']);
    const said = warnings.filter((w) => w.includes('pg1.invalid'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^restapi\.allowlist_include_members: cannot resolve member host pg1\.invalid: .*; requests from it are refused until it resolves$/);
  });

  it('looks up a member that joins at once, waits for that lookup before refusing, and bounds it with a deadline', async () => {
    const { warnings, logger } = recording();
    const answers: Record<string, string[] | 'never'> = { 'pg1.example': ['127.0.0.1'], 'slow.example': ['127.0.0.1'], 'hang.example': 'never' };
    const lookups: string[] = [];
    const resolveHost = async (host: string) => {
      lookups.push(host);
      const a = answers[host];
      if (a === 'never') return new Promise<string[]>(() => {});
      if (host === 'slow.example') await new Promise((r) => setTimeout(r, 300));
      if (!a) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return a;
    };
    const { api, port } = await start({ allowlistIncludeMembers: true, logger, resolveHost, memberHosts: { timeoutMs: 500 } });
    publishMember(api, 'pg1.example');
    expect((await patch(port))[0]).toBe(200);
    // Resolved once, not on every request.
    expect((await patch(port))[0]).toBe(200);
    expect(lookups.filter((h) => h === 'pg1.example')).toHaveLength(1);
    // The member moves to a name still being looked up when its request arrives.
    publishMember(api, 'slow.example');
    expect((await patch(port))[0]).toBe(200);
    // A lookup that never answers: refused after the deadline, said once.
    publishMember(api, 'hang.example');
    const started = Date.now();
    expect(await patch(port)).toEqual([403, 'Access is denied']);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(warnings.filter((w) => w.includes('hang.example'))).toEqual([
      'restapi.allowlist_include_members: cannot resolve member host hang.example: no answer within 500 ms; requests from it are refused until it resolves',
    ]);
  });
});

describe('fuzz', () => {
  const PATHS: [string, string][] = [
    ['POST', '/switchover'],
    ['POST', '/failover'],
    ['POST', '/restart'],
    ['POST', '/reinitialize'],
    ['POST', '/reload'],
    ['PATCH', '/config'],
    ['PUT', '/config'],
    ['DELETE', '/switchover'],
    ['DELETE', '/restart'],
  ];



  function hostileBody(r: () => number): string {
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
    const values: unknown[] = [null, true, 1e308, -1, 'x'.repeat(Math.floor(r() * 300)), [], {}, { __proto__: { polluted: 1 } }, [1, [2, [3]]], '\u0000\ud800', 'now'];
    const keys = ['leader', 'candidate', 'member', 'scheduled_at', 'schedule', 'role', 'postgres_version', 'timeout', 'restart_pending', 'force', 'ttl', 'postgresql', 'pause', '__proto__', 'constructor', ''];
    switch (Math.floor(r() * 6)) {
      case 0:
        return Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256))).toString('latin1');
      case 1:
        return '{'.repeat(Math.floor(r() * 5000));
      case 2:
        return JSON.stringify(pick(values));
      case 3:
        return '{"a":' + '['.repeat(2000) + ']'.repeat(2000) + '}';
      default: {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < 1 + Math.floor(r() * 4); i++) o[pick(keys)] = pick(values);
        return JSON.stringify(o);
      }
    }
  }

  it('answers random and hostile bodies with a status (never 5xx from a crash) and keeps serving', async () => {
    const { api, port } = await start({
      authentication: { username: 'admin', password: 'secret' },
      unsafeRate: { perSecond: 10_000, burst: 10_000 },
      authFailures: { limit: 10_000, windowMs: 60_000 },
    });
    // The cluster has a single member, so switchovers stop at "not possible" instead of waiting.
    const r = seededRandom(42);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const [method, path] = PATHS[Math.floor(r() * PATHS.length)]!;
      const body = hostileBody(r);
      const headers: Record<string, string> = { ...JSON_BODY, Authorization: r() < 0.9 ? basic('admin', 'secret') : basic('admin', 'x'.repeat(Math.floor(r() * 40))) };
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, body, headers });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${method} ${path} ${body.slice(0, 80)}`).not.toBe(500);
    }
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(401) ?? 0).toBeGreaterThan(0);
    // Raw garbage on the socket: the server drops it and stays up.
    await new Promise<void>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.end('PATCH /config HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n\x00\x01garbage'));
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
      sock.resume();
    });
    // The config is still a valid object and the health checks still answer.
    expect(typeof (await pg0.loadCluster()).config?.value).toBe('object');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((await fetch(`http://127.0.0.1:${port}/primary`)).status).toBe(200);
    expect(api.server.listening).toBe(true);
  }, 60_000);
});
