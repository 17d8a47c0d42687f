// A reload (SIGHUP, POST /reload) changes the REST API's certificates, authentication, allowlist
// and address on the running server, without the agent restarting.
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type DcsDriver } from '@pgha/dcs';
import { makeTestCertificates, tempDir } from '@pgha/test-servers';
import { createApiServer, type ApiServer, type ApiServerOptions, type ApiSettings, type ApiTls } from '../src/server.js';
import { managementOn, rawRequest, snapshot } from './fixtures.js';

const servers: ApiServer[] = [];
const dirs: Array<{ remove(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => d.remove()));
});

function storeWithMembers() {
  const driver: DcsDriver = createMemoryBackend().createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'reload', name: 'pg1', section: {}, clock: systemClock, logger: silentLogger });
  return createClusterStore(driver, { name: 'pg1', logger: silentLogger });
}

async function certificates() {
  const dir = await tempDir('reload');
  dirs.push(dir);
  return makeTestCertificates(dir.path);
}

async function start(over: Partial<ApiServerOptions> = {}): Promise<{ api: ApiServer; port: number }> {
  const store = storeWithMembers();
  // PATCH /config needs a config key to patch.
  await store.setConfig({ ttl: 10, loop_wait: 1 });
  const api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    management: managementOn(store),
    now: () => systemClock.now(),
    logger: silentLogger,
    ...over,
  });
  servers.push(api);
  const { port } = await api.listen();
  api.publish(snapshot());
  return { api, port };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const patch = (port: number, headers: Record<string, string> = {}, localAddress?: string) =>
  rawRequest(port, 'PATCH', '/config', '{"loop_wait": 3}', { 'Content-Type': 'application/json', ...headers }, localAddress);

/** A GET over https trusting `ca` only; the status, or the TLS error's message. */
function httpsGet(port: number, ca: Buffer, client?: { cert: Buffer; key: Buffer }): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/patroni', ca, agent: false, ...(client ?? {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
}

describe('reloading the REST API settings', () => {
  it('adds and removes Basic authentication on the same listening socket', async () => {
    const { api, port } = await start();
    expect((await patch(port)).status).toBe(200);
    const server = api.server;
    const settings: ApiSettings = { host: '127.0.0.1', port, authentication: { username: 'admin', password: 'secret' } };
    expect(await api.reconfigure(settings)).toBe('unchanged');
    expect(api.server).toBe(server);
    expect((await patch(port)).status).toBe(401);
    expect((await patch(port, { Authorization: basic('admin', 'secret') })).status).toBe(200);
    // GET /patroni stops warning that the endpoints are open to anyone.
    expect(JSON.parse((await rawRequest(port, 'GET', '/patroni')).text).warnings).toBeUndefined();
    await api.reconfigure({ host: '127.0.0.1', port });
    expect((await patch(port)).status).toBe(200);
    expect(JSON.parse((await rawRequest(port, 'GET', '/patroni')).text).warnings).toHaveLength(1);
  });

  it('applies a new allowlist, and looks its host names up again as they fall due', async () => {
    let now = 0;
    let adminHost = ['127.0.0.9'];
    const lookups: string[] = [];
    const { api, port } = await start({
      now: () => now,
      resolveHost: async (host) => {
        lookups.push(host);
        if (host !== 'admin.example') throw new Error(`unknown host ${host}`);
        return adminHost;
      },
      memberHosts: { refreshMs: 60_000, retryMs: 10_000 },
    });
    await api.reconfigure({ host: '127.0.0.1', port, allowlist: ['127.0.0.2', 'admin.example'] });
    expect(lookups).toEqual(['admin.example']);
    expect((await patch(port, {}, '127.0.0.2')).status).toBe(200);
    expect((await patch(port, {}, '127.0.0.1')).status).toBe(403);
    // The name moves to this host: not seen before the refresh is due, seen after it.
    adminHost = ['127.0.0.1'];
    now = 30_000;
    api.publish(snapshot());
    expect((await patch(port, {}, '127.0.0.1')).status).toBe(403);
    now = 61_000;
    api.publish(snapshot());
    expect((await patch(port, {}, '127.0.0.1')).status).toBe(200);
    expect(lookups).toEqual(['admin.example', 'admin.example']);
  });

  it('swaps certificates and turns on verify_client for new connections, keeping the socket', async () => {
    const first = await certificates();
    const second = await certificates();
    const read = (f: string) => readFile(f);
    const tlsOf = async (c: typeof first, verifyClient?: ApiTls['verifyClient']): Promise<ApiTls> => ({
      cert: await read(c.serverCertFile),
      key: await read(c.serverKeyFile),
      ca: await read(c.caFile),
      ...(verifyClient ? { verifyClient } : {}),
    });
    const caA = await read(first.caFile);
    const caB = await read(second.caFile);
    const { api, port } = await start({ tls: await tlsOf(first) });
    expect(await httpsGet(port, caA)).toBe(200);
    expect(await httpsGet(port, caB)).toMatch(/self-signed|unable to verify|certificate/i);
    const server = api.server;

    expect(await api.reconfigure({ host: '127.0.0.1', port, tls: await tlsOf(second, 'required') })).toBe('tls-updated');
    expect(api.server).toBe(server);
    expect(await httpsGet(port, caA)).toMatch(/self-signed|unable to verify|certificate/i);
    // verify_client: required refuses a handshake without a client certificate of the new CA.
    expect(await httpsGet(port, caB)).not.toBe(200);
    const client = { cert: await read(second.clientCertFile), key: await read(second.clientKeyFile) };
    expect(await httpsGet(port, caB, client)).toBe(200);
    const stranger = { cert: await read(first.clientCertFile), key: await read(first.clientKeyFile) };
    expect(await httpsGet(port, caB, stranger)).not.toBe(200);
  });

  it('moves to a new port, and stays where it was when the new one is taken', async () => {
    const { api, port } = await start();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const takenPort = (taken.address() as AddressInfo).port;
    try {
      await expect(api.reconfigure({ host: '127.0.0.1', port: takenPort })).rejects.toThrow(/EADDRINUSE/);
      expect((await rawRequest(port, 'GET', '/patroni')).status).toBe(200);
    } finally {
      taken.close();
    }
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
    const next = (free.address() as AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    expect(await api.reconfigure({ host: '127.0.0.1', port: next })).toBe('reopened');
    expect((await rawRequest(next, 'GET', '/patroni')).status).toBe(200);
    await expect(rawRequest(port, 'GET', '/patroni')).rejects.toThrow(/ECONNREFUSED/);
  });
});
