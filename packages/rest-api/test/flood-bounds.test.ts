// Floods and slow clients against the real server on loopback (#16): clients that send a body a
// byte at a time cannot hold the slots an operator's call needs, a body that never finishes is
// answered 408, and one source cannot open every connection. Two loopback addresses stand for
// two hosts (127.0.0.1 the flood, 127.0.0.2 the operator).
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock } from '@pgha/dcs';
import { waitFor } from '@pgha/test-servers';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../src/server.js';
import { managementOn, rawRequest, snapshot } from './fixtures.js';

const backend = createMemoryBackend();
const driver = backend.createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'flood', name: 'pg0', section: {}, clock: systemClock, logger: silentLogger });
const store = createClusterStore(driver, { name: 'pg0', logger: silentLogger });
const servers: ApiServer[] = [];
const sockets: Socket[] = [];

async function start(over: Partial<ApiServerOptions> = {}) {
  const api = createApiServer({ host: '127.0.0.1', port: 0, now: () => systemClock.now(), logger: silentLogger, management: managementOn(store), ...over });
  servers.push(api);
  const { port } = await api.listen();
  api.publish({ ...snapshot({ role: 'master' }), hasLock: true, cluster: await store.loadCluster() });
  return { api, port };
}

/** Sends the headers of a PATCH /config and the first byte of its body, then nothing more. */
function dripper(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => {
      socket.write('PATCH /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
      resolve(socket);
    });
    socket.on('error', reject);
    sockets.push(socket);
  });
}

/** Everything the server sent on `socket` until it closed it. */
function untilClosed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('close', () => resolve(text));
  });
}

const call = (port: number, localAddress: string, method: string, path: string, body?: string) =>
  rawRequest(port, method, path, body, body === undefined ? {} : { 'Content-Type': 'application/json' }, localAddress);

beforeAll(async () => {
  await store.setConfig({ ttl: 10, loop_wait: 1 });
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await store.close();
});

describe('slow request bodies', () => {
  it('clients dripping their bodies hold neither the processing slots nor the operator out', async () => {
    const { port } = await start({ maxConcurrentUnsafe: 1, connectionLimits: { maxBodyReadsPerSource: 2 }, bodyTimeoutMs: 60_000 });
    const held = [await dripper(port), await dripper(port)];
    // A third body from the same source is refused at once: that source has its two slots.
    const third = await dripper(port);
    expect(await untilClosed(third)).toMatch(/^HTTP\/1\.1 503 [\s\S]*too many request bodies in progress from 127\.0\.0\.1/);
    // The operator, from another address, is served although only one processing slot exists.
    const answer = await call(port, '127.0.0.2', 'PATCH', '/config', JSON.stringify({ loop_wait: 2 }));
    expect(answer, answer.text).toMatchObject({ status: 200 });
    expect(((await store.loadCluster()).config?.value as Record<string, unknown>)['loop_wait']).toBe(2);
    for (const s of held) expect(s.destroyed).toBe(false);
  });

  it('a body that does not arrive within the deadline is answered 408 and the connection closed', async () => {
    const { port } = await start({ bodyTimeoutMs: 200 });
    const socket = await dripper(port);
    expect(await untilClosed(socket)).toMatch(/^HTTP\/1\.1 408 [\s\S]*did not arrive within 0\.2 s/);
    // Its slot is free again: the same source is served next.
    expect((await call(port, '127.0.0.1', 'PATCH', '/config', JSON.stringify({ loop_wait: 3 }))).status).toBe(200);
  });
});

describe('the management rate limit', () => {
  it('is per source: a source that used its burst is refused, another host is served', async () => {
    const { port } = await start({ unsafeRate: { perSecond: 0.001, burst: 2 } });
    const patch = (from: string) => call(port, from, 'PATCH', '/config', JSON.stringify({ loop_wait: 1 }));
    expect((await patch('127.0.0.1')).status).toBe(200);
    expect((await patch('127.0.0.1')).status).toBe(200);
    expect((await patch('127.0.0.1')).status).toBe(429);
    expect((await patch('127.0.0.2')).status).toBe(200);
  });
});

describe('connections', () => {
  it('one source cannot open every connection; another source still gets its health check', async () => {
    const { api, port } = await start({ connectionLimits: { maxPerSource: 3, maxConnections: 5 } });
    const open = await Promise.all([0, 1, 2].map(() => new Promise<Socket>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => resolve(s));
      sockets.push(s);
    })));
    await waitFor('three connections counted', async () => api.server.listening && (await connectionCount(api)) === 3, 5000, 20);
    // The fourth from 127.0.0.1 is closed by the server without an answer.
    const fourth = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    sockets.push(fourth);
    fourth.on('error', () => {});
    fourth.on('connect', () => fourth.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await untilClosed(fourth)).toBe('');
    expect((await call(port, '127.0.0.2', 'GET', '/health')).status).toBe(200);
    for (const s of open) expect(s.destroyed).toBe(false);
  });

  it('the total bound holds across sources', async () => {
    const { port } = await start({ connectionLimits: { maxPerSource: 10, maxConnections: 2 } });
    for (const address of ['127.0.0.3', '127.0.0.4']) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, localAddress: address }, () => resolve());
        sockets.push(s);
      });
    }
    const third = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.5' });
    sockets.push(third);
    third.on('error', () => {});
    third.on('connect', () => third.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await untilClosed(third)).toBe('');
  });
});

/** Connections the server holds open now. */
function connectionCount(api: ApiServer): Promise<number> {
  return new Promise((resolve, reject) => api.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}
