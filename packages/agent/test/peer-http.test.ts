import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpPeerProbe } from '@pgha/ha-engine';
import { createPeerHttp } from '../src/adapters/peer-http.js';

describe('peer HTTP client (node:http, no fetch)', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        if (req.url === '/patroni') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ state: 'running', role: 'replica', timeline: 3, xlog: { received_location: 100, replayed_location: 90 }, tags: { zone: '上海' } }));
        } else if (req.url === '/failsafe') {
          res.writeHead(200);
          res.end('Accepted');
        } else if (req.url === '/garbage') {
          res.writeHead(503);
          res.end('<html>not json</html>');
        } else if (req.url === '/huge') {
          res.writeHead(200);
          res.end(Buffer.alloc(2 * 1024 * 1024, 'x'));
        } else if (req.url === '/slow') {
          setTimeout(() => res.end('{}'), 5000);
        } else {
          res.writeHead(404);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('reads a member status through the engine probe, sending the configured headers', async () => {
    const probe = createHttpPeerProbe({ fetch: createPeerHttp(), headers: { Authorization: 'Basic eDp5' } });
    const [status] = await probe.probe([{ name: 'pg1', apiUrl: `${base}/patroni` }], { timeoutMs: 2000, signal: new AbortController().signal });
    expect(status).toMatchObject({ name: 'pg1', reachable: true, inRecovery: true, walPosition: 100, timeline: 3, tags: { zone: '上海' } });
    expect(seen.at(-1)?.headers['authorization']).toBe('Basic eDp5');
    expect(seen.at(-1)?.headers['connection']).toBe('close');
  });

  it('POSTs the failsafe payload as JSON and reads the answer text', async () => {
    const probe = createHttpPeerProbe({ fetch: createPeerHttp() });
    const payload = { name: 'pg0', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: `${base}/patroni`, slots: {} };
    const [ack] = await probe.postFailsafe!([{ name: 'pg1', apiUrl: `${base}/patroni` }], payload, { timeoutMs: 2000, signal: new AbortController().signal });
    expect(ack).toEqual({ name: 'pg1', accepted: true });
    const last = seen.at(-1)!;
    expect(last.method).toBe('POST');
    expect(last.url).toBe('/failsafe');
    expect(JSON.parse(last.body)).toEqual(payload);
    expect(last.headers['content-type']).toBe('application/json');
  });

  it('a non-JSON answer, a refused connection, a deadline and an oversized answer each make the member unreachable, with the reason', async () => {
    const probe = createHttpPeerProbe({ fetch: createPeerHttp() });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/patroni`;
    await new Promise((r) => closed.close(r));
    const results = await probe.probe(
      [
        { name: 'garbage', apiUrl: `${base}/garbage` },
        { name: 'refused', apiUrl: closedUrl },
        { name: 'slow', apiUrl: `${base}/slow` },
        { name: 'huge', apiUrl: `${base}/huge` },
        { name: 'bad-url', apiUrl: 'not a url' },
      ],
      { timeoutMs: 300, signal: new AbortController().signal },
    );
    for (const r of results) expect(r.reachable, r.name).toBe(false);
    const why = Object.fromEntries(results.map((r) => [r.name, r.error ?? '']));
    expect(why['garbage']).toMatch(/not JSON \(HTTP 503\)/);
    expect(why['refused']).toMatch(/ECONNREFUSED/);
    expect(why['slow']).toMatch(/abort|timeout/i);
    expect(why['huge']).toMatch(/larger than/);
    expect(why['bad-url']).toMatch(/not a URL/);
  });

  it('bounds the bytes of all answers read at once (issue #15): bogus members answering large bodies together cannot fill the heap', async () => {
    const CHUNK = 900 * 1024;
    const COUNT = 20;
    const open: ServerResponse[] = [];
    // Every answer sends 900 KiB and holds the connection until all 20 were sent: the client
    // must buffer them all at the same time.
    const big = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(Buffer.alloc(CHUNK, 0x20));
      open.push(res);
      if (open.length === COUNT) setTimeout(() => open.forEach((r) => r.end('{}')), 200);
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(big.address() as AddressInfo).port}/patroni`;
    const fetch = createPeerHttp({ maxBufferedBytes: 4 * 1024 * 1024 });
    try {
      const settled = await Promise.allSettled(Array.from({ length: COUNT }, () => fetch(url, { signal: AbortSignal.timeout(10_000) })));
      const read = settled.filter((s) => s.status === 'fulfilled').length;
      const refused = settled.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error).message)] : []));
      // At most 4 MiB / 900 KiB answers fit at once; the others fail, naming the budget.
      expect(read).toBeLessThanOrEqual(4);
      expect(refused.length).toBe(COUNT - read);
      expect(refused[0]).toMatch(/over 4194304 bytes$/);
      // The budget is given back: a later answer is read again.
      open.length = 0;
      const small = createServer((_req, res) => res.end('{"state":"running"}'));
      await new Promise<void>((r) => small.listen(0, '127.0.0.1', r));
      const again = await fetch(`http://127.0.0.1:${(small.address() as AddressInfo).port}/patroni`, { signal: AbortSignal.timeout(5000) });
      expect(await again.json()).toEqual({ state: 'running' });
      await new Promise((r) => small.close(r));
    } finally {
      big.closeAllConnections();
      await new Promise((r) => big.close(r));
    }
  });
});
