// POST /failsafe and GET /failsafe (issue #9): a primary cut off from the DCS asks the members to
// acknowledge it; the API hands the request to the local HA loop and answers as Patroni does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '@pgha/dcs';
import type { FailsafeAnswer, FailsafeRequest } from '@pgha/ha-engine';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../src/server.js';
import { cluster, snapshot } from './fixtures.js';

const received: FailsafeRequest[] = [];
let answer: FailsafeAnswer = { kind: 'accepted', lsn: 67_395_656 };
const servers: ApiServer[] = [];

async function start(failsafe?: ApiServerOptions['failsafe']): Promise<string> {
  const api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    now: () => systemClock.now(),
    logger: silentLogger,
    // Not used by these endpoints.
    management: {} as ApiServerOptions['management'],
    ...(failsafe ? { failsafe } : {}),
  });
  servers.push(api);
  const { port } = await api.listen();
  const topology = { pg0: 'http://127.0.0.1:8008/patroni', pg1: 'http://127.0.0.1:8009/patroni' };
  api.publish(snapshot({}, { cluster: cluster({ config: { value: { failsafe_mode: true }, version: '1' }, failsafe: { value: topology, version: '2' } }) }));
  return `http://127.0.0.1:${port}`;
}

let base: string;
let withoutLoop: string;

beforeAll(async () => {
  base = await start((request) => {
    received.push(request);
    return answer;
  });
  withoutLoop = await start();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const ping = (url: string, body: unknown) =>
  fetch(`${url}/failsafe`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

describe('POST /failsafe', () => {
  it('accepts a ping, hands it to the loop and reports our WAL position in the lsn header', async () => {
    const res = await ping(base, { name: 'pg0', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', slots: {} });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Accepted');
    expect(res.headers.get('lsn')).toBe('67395656');
    // The source address goes with it: the loop checks it against the leader's (issue #15).
    expect(received.at(-1)).toEqual({ name: 'pg0', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', source: '127.0.0.1' });
  });

  it('a ping the loop refuses (not the leader, or not from its address) answers its status and reason', async () => {
    answer = { kind: 'refused', status: 409, reason: 'name: "evil" is not the leader (the DCS last named pg0)' };
    const res = await ping(base, { name: 'evil', conn_url: 'postgres://attacker:5432/postgres' });
    expect([res.status, await res.text()]).toEqual([409, 'POST /failsafe refused: name: "evil" is not the leader (the DCS last named pg0)']);
    answer = { kind: 'accepted', lsn: 67_395_656 };
  });

  it('is an unsafe endpoint: with restapi.authentication set, a ping without credentials is refused before the loop sees it', async () => {
    const api = createApiServer({
      host: '127.0.0.1',
      port: 0,
      now: () => systemClock.now(),
      logger: silentLogger,
      management: {} as ApiServerOptions['management'],
      authentication: { username: 'u', password: 'p' },
      failsafe: (request) => {
        received.push(request);
        return answer;
      },
    });
    servers.push(api);
    const { port } = await api.listen();
    const before = received.length;
    const res = await ping(`http://127.0.0.1:${port}`, { name: 'pg0' });
    expect(res.status).toBe(401);
    expect(received.length).toBe(before);
    const ok = await fetch(`http://127.0.0.1:${port}/failsafe`, {
      method: 'POST',
      body: JSON.stringify({ name: 'pg0' }),
      headers: { 'Content-Type': 'application/json', Authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
    });
    expect(ok.status).toBe(200);
  });

  it('refuses when this member runs as a primary itself, or failsafe mode is off', async () => {
    answer = { kind: 'leader' };
    const leader = await ping(base, { name: 'pg0' });
    expect([leader.status, await leader.text()]).toEqual([500, 'Running as a leader']);
    answer = { kind: 'disabled' };
    expect((await ping(base, { name: 'pg0' })).status).toBe(502);
    expect((await ping(withoutLoop, { name: 'pg0' })).status).toBe(502);
    answer = { kind: 'accepted', lsn: null };
  });

  it('a body without the primary’s name is a 400 naming the field', async () => {
    const res = await ping(base, { conn_url: 'x' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('"name"');
  });
});

describe('GET /failsafe', () => {
  it('answers the topology from the last cycle while failsafe mode is on', async () => {
    const res = await fetch(`${base}/failsafe`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ pg0: 'http://127.0.0.1:8008/patroni', pg1: 'http://127.0.0.1:8009/patroni' });
  });
});
