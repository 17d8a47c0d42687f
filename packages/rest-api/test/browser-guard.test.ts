// Access control against what a web page, a password guesser or a forgotten setting does (#16):
// requests a browser marks cross-site and non-JSON bodies are refused before anything is read;
// failed Basic-auth attempts are logged with the source and a guessing source is refused; an API
// open to anyone says so at start and in GET /patroni. A real server on loopback throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type DcsDriver } from '@pgha/dcs';
import { createApiServer, OPEN_API_WARNING, type ApiLogger, type ApiServer } from '../src/server.js';
import { managementOn, rawRequest, snapshot } from './fixtures.js';

const backend = createMemoryBackend();
const drivers: DcsDriver[] = [];
const servers: ApiServer[] = [];
const driver = backend.createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'guard', name: 'pg0', section: {}, clock: systemClock, logger: silentLogger });
drivers.push(driver);
const pg0 = createClusterStore(driver, { name: 'pg0', logger: silentLogger });
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

function recordingLogger(): ApiLogger & { lines: Array<{ obj: unknown; msg: string }> } {
  const lines: Array<{ obj: unknown; msg: string }> = [];
  const add = (obj: object | string, msg?: string) => void lines.push(typeof obj === 'string' ? { obj: {}, msg: obj } : { obj, msg: msg ?? '' });
  return { lines, info: () => {}, debug: () => {}, warn: add };
}

async function start(over: { authentication?: { username: string; password: string }; logger?: ApiLogger; authFailures?: { limit: number; windowMs: number } } = {}) {
  const api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    now: () => systemClock.now(),
    logger: over.logger ?? silentLogger,
    ...(over.authentication ? { authentication: over.authentication } : {}),
    ...(over.authFailures ? { authFailures: over.authFailures } : {}),
    management: managementOn(pg0),
  });
  servers.push(api);
  const { port } = await api.listen();
  api.publish({ ...snapshot({ role: 'master' }), hasLock: true, cluster: await pg0.loadCluster() });
  return { api, port };
}

const raw = (port: number, method: string, path: string, body: string, headers: Record<string, string> = {}) => rawRequest(port, method, path, body, headers);

const loopWait = async () => ((await pg0.loadCluster()).config?.value as Record<string, unknown> | undefined)?.['loop_wait'];

beforeAll(async () => {
  await pg0.setConfig({ ttl: 10, loop_wait: 1 });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(drivers.map((d) => d.close()));
});

describe('requests a browser sends from another site', () => {
  it('refuses a cross-site Origin and Sec-Fetch-Site with 403, and changes nothing', async () => {
    const { port } = await start();
    await raw(port, 'PATCH', '/config', '{"loop_wait":3}', { 'Content-Type': 'application/json' });
    expect(await loopWait()).toBe(3);
    const origin = await raw(port, 'PATCH', '/config', '{"loop_wait":7}', { 'Content-Type': 'application/json', Origin: 'http://evil.example' });
    expect(origin).toEqual({ status: 403, text: 'cross-site request refused (Origin: http://evil.example)' });
    const site = await raw(port, 'POST', '/reload', '', { 'Sec-Fetch-Site': 'cross-site' });
    expect(site).toEqual({ status: 403, text: 'cross-site request refused (Sec-Fetch-Site: cross-site)' });
    const nullOrigin = await raw(port, 'PATCH', '/config', '{"loop_wait":7}', { Origin: 'null' });
    expect(nullOrigin.status).toBe(403);
    expect(await loopWait()).toBe(3);
    // The API's own origin (a page served by this host:port) passes.
    const own = await raw(port, 'PATCH', '/config', '{"loop_wait":4}', { 'Content-Type': 'application/json', Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' });
    expect(own.status).toBe(200);
    expect(await loopWait()).toBe(4);
  });

  it('refuses a body that is not JSON by its type with 415 (a form, a text/plain beacon); no type at all is patronictl and passes', async () => {
    const { port } = await start();
    for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await raw(port, 'PATCH', '/config', '{"loop_wait":9}', { 'Content-Type': type });
      expect(res.status, type).toBe(415);
      expect(res.text).toMatch(/^Unsupported Media Type: management requests take application\/json/);
    }
    expect(await loopWait()).not.toBe(9);
    expect((await raw(port, 'PATCH', '/config', '{"loop_wait":5}', { 'Content-Type': 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await raw(port, 'PATCH', '/config', '{"loop_wait":6}', { 'Content-Type': 'application/merge-patch+json' })).status).toBe(200);
    expect((await raw(port, 'PATCH', '/config', '{"loop_wait":2}')).status).toBe(200);
    expect(await loopWait()).toBe(2);
  });
});

describe('failed authentication', () => {
  it('logs each failure with the source address and refuses a guessing source with 429, even with the right password', async () => {
    const logger = recordingLogger();
    const { port } = await start({ authentication: { username: 'admin', password: 'secret' }, logger, authFailures: { limit: 3, windowMs: 60_000 } });
    const json = { 'Content-Type': 'application/json' };
    expect((await raw(port, 'PATCH', '/config', '{}', { ...json, Authorization: basic('admin', 'secret') })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await raw(port, 'PATCH', '/config', '{}', { ...json, Authorization: basic('admin', `guess${i}`) })).status).toBe(401);
    const refused = await raw(port, 'PATCH', '/config', '{}', { ...json, Authorization: basic('admin', 'secret') });
    expect(refused).toEqual({ status: 429, text: 'Too Many Requests: too many failed authentication attempts' });
    const failures = logger.lines.filter((l) => l.msg === 'REST API: failed authentication');
    expect(failures).toHaveLength(3);
    expect(failures.every((l) => (l.obj as { source?: string }).source === '127.0.0.1')).toBe(true);
    expect(logger.lines.some((l) => l.msg === 'REST API: 3 failed authentication attempts from 127.0.0.1; refusing it for 60 s')).toBe(true);
  });
});

describe('an API open to anyone', () => {
  it('says so loudly at start and in GET /patroni; with authentication it does not', async () => {
    const logger = recordingLogger();
    const { port } = await start({ logger });
    expect(logger.lines.map((l) => l.msg)).toContain(`SECURITY: ${OPEN_API_WARNING}`);
    const open = (await (await fetch(`http://127.0.0.1:${port}/patroni`)).json()) as { warnings?: string[] };
    expect(open.warnings).toEqual([OPEN_API_WARNING]);
    const quiet = recordingLogger();
    const { port: locked } = await start({ authentication: { username: 'admin', password: 'secret' }, logger: quiet });
    expect(quiet.lines).toEqual([]);
    expect(((await (await fetch(`http://127.0.0.1:${locked}/patroni`)).json()) as { warnings?: string[] }).warnings).toBeUndefined();
  });
});
