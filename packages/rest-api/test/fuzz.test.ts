// Hostile requests (issue #15, review §1.5, §1.8): random, wrong-typed, huge and deep bodies, bad
// JSON, bad Content-Length and CR/LF in headers against a real server on loopback, every endpoint,
// from a fixed seed. The server must keep answering GET /health, client errors must be 4xx (a
// 5xx only where Patroni answers one for a well-formed request), and nothing may throw out of it
// (vitest fails the run on an uncaught exception or unhandled rejection in this process).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock, type ClusterStore, type DcsDriver } from '@pgha/dcs';
import type { CycleSummary, LoopPort } from '../src/local-actions.js';
import { seededRandom } from '@pgha/test-servers';
import { createApiServer, type ApiServer } from '../src/server.js';
import { snapshot } from './fixtures.js';

const SEED = 15;
/** What the clients send with a body (fetch would say text/plain, which is refused with 415). */
const JSON_BODY = { 'Content-Type': 'application/json' };


const rand = seededRandom(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const int = (n: number) => Math.floor(rand() * n);

const FIELDS = [
  'leader', 'master', 'candidate', 'member', 'scheduled_at', 'name', 'conn_url', 'api_url', 'slots',
  'schedule', 'role', 'postgres_version', 'timeout', 'restart_pending', 'force', 'from_leader',
  'ttl', 'loop_wait', 'retry_timeout', 'pause', 'failsafe_mode', 'postgresql', 'synchronous_mode',
  'maximum_lag_on_failover', 'standby_cluster', '__proto__', 'constructor', '',
];

function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = rand() < 0.5 ? [v] : { a: v };
  return v;
}

/** JSON text nested `depth` levels deep, built as text (JSON.stringify itself would overflow the stack). */
function deepText(depth: number): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    if (rand() < 0.5) {
      open += '[';
      close = `]${close}`;
    } else {
      open += '{"a":';
      close = `}${close}`;
    }
  }
  return `${open}1${close}`;
}

/** A random JSON value: wrong types, extremes, long strings, nesting. */
function value(level = 0): unknown {
  switch (int(level > 2 ? 8 : 11)) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 2147483648]);
    case 3: return pick(['', ' ', 'pg0', 'pg1', '2026-13-45T99:00', '2030-01-01T00:00:00+00:00', '1e999', '\u0000', 'é\u2603', 'a\r\nb']);
    case 4: return 'x'.repeat(int(4096));
    case 5: return String(int(1e9));
    case 6: return pick(['master', 'primary', 'replica', '15.4', 'on', 'off', 'quorum']);
    case 7: return deep(1 + int(40));
    case 8: return Array.from({ length: int(4) }, () => value(level + 1));
    default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(FIELDS), value(level + 1)]));
  }
}

/** A random body: an object of known fields with random values, or something else entirely. */
function body(): string {
  switch (int(10)) {
    case 0: return pick(['{', '{"a":', 'nul', '[1,2', '{"a":1}}', '\u0000', '{"a":"\\ud800"}', '{"a":1e999}']);
    case 1: return JSON.stringify(pick([[], 1, 'x', null, true]));
    case 2: return `{"${pick(FIELDS)}":${deepText(2000 + int(8000))}}`;
    case 3: return JSON.stringify({ [pick(FIELDS)]: 'x'.repeat(60_000) });
    case 4: return '';
    default: return JSON.stringify(Object.fromEntries(Array.from({ length: 1 + int(5) }, () => [pick(FIELDS), value()])));
  }
}

const UNSAFE: [string, string][] = [
  ['POST', '/switchover'], ['POST', '/failover'], ['POST', '/restart'], ['POST', '/reinitialize'], ['POST', '/reload'],
  ['POST', '/failsafe'], ['PATCH', '/config'], ['PUT', '/config'], ['DELETE', '/restart'], ['DELETE', '/switchover'],
];
const READS = ['/', '/health', '/primary', '/master', '/leader', '/replica', '/read-only', '/standby-leader', '/synchronous', '/async',
  '/quorum', '/liveness', '/readiness', '/patroni', '/cluster', '/history', '/config', '/failsafe', '/metrics', '/nonexistent'];
const QUERIES = ['', '?lag=abc', '?lag=-1', '?lag=1e999', '?tag_x=%00', '?replication_state=%E2%98%83', `?lag=${'9'.repeat(5000)}`, '?%', '?a=1&a=2'];

/** 5xx answers Patroni gives to well-formed requests (a state of the cluster, not a fault). */
const PATRONI_5XX = [
  /^DCS is not accessible/, /^Cluster has no configuration/, /^failed to write/, /^Failsafe mode is not enabled$/, /^Running as a leader$/,
  /^restart conditions are not satisfied$/, /already in progress$/, /status unknown/, /^Cluster has no leader/, /^I am the leader/,
  /^(Switchover|Failover) failed$/, /^Can't schedule restart in the paused state$/, /^restart failed/, /^local management/, /^Bad Gateway$/,
  // A restart or reinitialize the cycle did not run answers that cycle's reason, as Patroni does.
  /^the fuzz loop runs nothing$/,
];

/** A loop that consumes every intent at once and does nothing with it. */
class InstantLoop implements LoopPort {
  listeners = new Set<(c: CycleSummary) => void>();
  token = 0;
  request(kind: 'restart' | 'reinitialize'): number {
    const token = ++this.token;
    setTimeout(() => {
      for (const l of [...this.listeners]) l({ reason: 'the fuzz loop runs nothing', actions: [`consume_intent(${kind})`], running: null, lastAction: null, saw: { [kind]: token } });
    }, 2);
    return token;
  }
  pending() {
    return false;
  }
  /** A scheduled restart is consumed at once too. */
  schedule(): void {}
  scheduled() {
    return null;
  }
  unschedule(): void {}
  running() {
    return null;
  }
  onCycle(listener: (c: CycleSummary) => void) {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}

const backend = createMemoryBackend();
const drivers: DcsDriver[] = [];
function store(name: string): ClusterStore {
  const driver = backend.createDriver({ ttl: 10, loopWait: 1, retryTimeout: 2, namespace: '/service', scope: 'fuzz', name, section: {}, clock: systemClock, logger: silentLogger });
  drivers.push(driver);
  return createClusterStore(driver, { name, logger: silentLogger });
}

let api: ApiServer;
let port: number;
let base: string;
const pg1 = store('pg1');

beforeAll(async () => {
  const pg0 = store('pg0');
  for (const [s, role] of [[pg0, 'primary'], [pg1, 'replica']] as const) {
    await s.touchMember({ role, state: 'running', api_url: 'http://127.0.0.1:1/patroni', conn_url: 'postgres://127.0.0.1:5432/postgres', tags: {}, extra: {}, xlog_location: 100 });
  }
  await pg0.acquireLeader();
  await pg0.setConfig({ ttl: 10, loop_wait: 1, failsafe_mode: true });
  api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    now: () => systemClock.now(),
    logger: silentLogger,
    httpExtraHeaders: { 'X-Frame-Options': 'SAMEORIGIN' },
    management: {
      loadCluster: () => pg1.loadCluster(),
      setFailover: (f) => pg1.setFailover(f),
      clearFailover: (v) => pg1.clearFailover(v),
      setConfig: (c, v) => pg1.setConfig(c, v),
      wakeup: () => {},
      waitForChange: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 10))),
      now: () => systemClock.now(),
      wallNow: () => new Date(),
      loopWait: () => 0.05,
    },
    local: { loop: new InstantLoop(), reload: async () => {}, now: () => systemClock.now(), wallNow: () => new Date(), loopWait: () => 0.05 },
    failsafe: (request) => (request.name === 'pg0' ? { kind: 'accepted', lsn: 1 } : { kind: 'refused', status: 409, reason: `name: ${JSON.stringify(request.name)} is not the leader` }),
    unsafeRate: { perSecond: 100_000, burst: 100_000 },
    maxConcurrentUnsafe: 64,
  });
  port = (await api.listen()).port;
  base = `http://127.0.0.1:${port}`;
  api.publish({ ...snapshot({ role: 'replica', state: 'running' }), cluster: await pg1.loadCluster() });
});

afterAll(async () => {
  await api.close();
  await Promise.all(drivers.map((d) => d.close()));
});

/** Sends `raw` bytes on a fresh connection; the status code of the first answer, or null when the server closed without one. */
function rawRequest(raw: string | Buffer, endAfter = true): Promise<{ status: number | null; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      resolve({ status: m ? Number(m[1]) : null, text: got });
    };
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (d) => {
      got += d.toString('latin1');
      // One answer is enough: stop before keep-alive waits for another request.
      if (/\r\n\r\n/.test(got) && /^HTTP\/1\.1 \d{3}/.test(got)) {
        const length = /content-length: (\d+)/i.exec(got);
        const head = got.indexOf('\r\n\r\n') + 4;
        if (!length || got.length - head >= Number(length[1])) socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', done);
    socket.write(raw);
    if (endAfter) socket.end();
  });
}

async function healthy(): Promise<number> {
  return (await fetch(`${base}/health`)).status;
}

describe(`REST fuzz (seed ${SEED})`, () => {
  it('random bodies on every unsafe endpoint: no 500 Internal Server Error, any 5xx is a Patroni answer, and /health keeps answering', async () => {
    const unexpected: string[] = [];
    let requests = 0;
    for (let round = 0; round < 40; round++) {
      for (const [method, path] of UNSAFE) {
        const text = body();
        const res = await fetch(`${base}${path}`, { method, body: text, headers: { 'Content-Type': pick(['application/json', 'text/plain', 'x/\u00e9']) } });
        const answer = await res.text();
        requests++;
        if (res.status >= 500 && !PATRONI_5XX.some((re) => re.test(answer))) unexpected.push(`${method} ${path} ${text.slice(0, 60)} -> ${res.status} ${answer}`);
        if (res.status === 400 && answer.trim() === '') unexpected.push(`${method} ${path} -> 400 without a message`);
      }
      for (const path of READS) {
        const res = await fetch(`${base}${path}${pick(QUERIES)}`, { method: pick(['GET', 'HEAD', 'OPTIONS']) });
        await res.arrayBuffer();
        if (res.status >= 500 && res.status !== 503) unexpected.push(`GET ${path} -> ${res.status}`);
      }
    }
    expect(requests).toBe(400);
    expect(unexpected).toEqual([]);
    expect(await healthy()).toBe(200);
  }, 120_000);

  it('malformed bodies are 4xx with a message: bad JSON, not an object, too deep, too large', async () => {
    const cases: [string, number, RegExp][] = [
      ['{"a":', 400, /not valid JSON/],
      ['[1,2,3]', 400, /must be a JSON object/],
      [`{"leader":${deepText(10_000)}}`, 400, /nested deeper than 32 levels/],
      [JSON.stringify({ leader: 'x'.repeat(70_000) }), 413, /larger than 65536 bytes/],
    ];
    for (const [method, path] of UNSAFE.filter(([m, p]) => m !== 'DELETE' && p !== '/reload')) {
      for (const [text, status, message] of cases) {
        const res = await fetch(`${base}${path}`, { method, body: text, headers: JSON_BODY });
        expect([method, path, res.status, message.test(await res.text())]).toEqual([method, path, status, true]);
      }
    }
    expect(await healthy()).toBe(200);
  });

  it('wrong-typed fields are a 400 naming the field', async () => {
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      ['POST', '/switchover', { leader: 5 }, /^leader: expected a string$/],
      ['POST', '/switchover', { leader: 'pg0', candidate: [] }, /^candidate: expected a string$/],
      ['POST', '/switchover', { leader: 'pg0', scheduled_at: {} }, /^scheduled_at: expected a string$/],
      ['POST', '/failover', { member: true }, /^member: expected a string$/],
      ['POST', '/restart', { schedule: 5 }, /^schedule: /],
      ['POST', '/restart', { timeout: 'soon' }, /^Timeout /],
      ['POST', '/restart', { role: 7 }, /role/],
      ['POST', '/restart', { postgres_version: [15] }, /version/],
      ['POST', '/restart', { restart_pending: 'yes' }, /^restart_pending: /],
      ['POST', '/restart', { bogus: 1 }, /: bogus$/],
      ['POST', '/reinitialize', { force: 'yes' }, /^force: expected true or false$/],
      ['POST', '/reinitialize', { from_leader: 1 }, /^from_leader: expected true or false$/],
      ['POST', '/failsafe', { name: 5 }, /"name"/],
      ['PATCH', '/config', { ttl: 'long' }, /^ttl: /],
      ['PATCH', '/config', { loop_wait: [] }, /^loop_wait: /],
      ['PATCH', '/config', { pause: 'yes' }, /^pause: /],
      ['PATCH', '/config', { postgresql: 5 }, /^postgresql: /],
      ['PUT', '/config', { retry_timeout: {} }, /^retry_timeout: /],
    ];
    const got = [];
    for (const [method, path, b, message] of cases) {
      const res = await fetch(`${base}${path}`, { method, body: JSON.stringify(b), headers: JSON_BODY });
      const text = await res.text();
      got.push([method, path, res.status, message.test(text) ? 'names the field' : text]);
    }
    expect(got).toEqual(cases.map(([m, p]) => [m, p, 400, 'names the field']));
  });

  it('bad framing on raw sockets: bad or conflicting Content-Length, CR/LF in headers, bad chunks, bodies cut short; never a 5xx', async () => {
    const post = (headers: string, b = '') => `POST /switchover HTTP/1.1\r\nHost: x\r\n${headers}\r\n${b}`;
    const cases: [string, string][] = [
      ['no length', post('')],
      ['length not a number', post('Content-Length: abc\r\n', '{}')],
      ['negative length', post('Content-Length: -1\r\n', '{}')],
      ['huge length', post('Content-Length: 99999999999\r\n', '{}')],
      ['two lengths', post('Content-Length: 2\r\nContent-Length: 3\r\n', '{}')],
      ['length shorter than the body', post('Content-Length: 1\r\n', '{"leader":"pg0"}')],
      ['length longer than the body, then EOF', post('Content-Length: 50\r\n', '{}')],
      ['CR inside a header value', post('X-A: a\rb\r\nContent-Length: 2\r\n', '{}')],
      ['LF inside a header value', post('X-A: a\nb: c\r\nContent-Length: 2\r\n', '{}')],
      ['NUL in a header', post('X-A: a\u0000b\r\nContent-Length: 2\r\n', '{}')],
      ['header without a colon', post('NoColon\r\nContent-Length: 2\r\n', '{}')],
      ['bad chunk size', post('Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n')],
      ['chunked and length', post('Transfer-Encoding: chunked\r\nContent-Length: 2\r\n', '2\r\n{}\r\n0\r\n\r\n')],
      ['chunked, huge chunk', post('Transfer-Encoding: chunked\r\n', `20000\r\n${'['.repeat(70_000)}`)],
      ['request line garbage', 'GARBAGE\r\n\r\n'],
      ['bad method', 'FOO /config HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['TRACE', 'TRACE /config HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['bad HTTP version', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n'],
      ['non-ASCII path', Buffer.from('GET /h\u00e9alth\u2603 HTTP/1.1\r\nHost: x\r\n\r\n', 'utf8').toString('latin1')],
      ['huge header', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
      ['many headers', `GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 500 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`],
      ['bad basic auth', post('Authorization: Basic %%%\r\nContent-Length: 2\r\n', '{}')],
      ['basic auth without a colon', post(`Authorization: Basic ${Buffer.from('nocolon').toString('base64')}\r\nContent-Length: 2\r\n`, '{}')],
    ];
    const answers: [string, number | null][] = [];
    for (const [name, raw] of cases) answers.push([name, (await rawRequest(raw)).status]);
    const fiveHundreds = answers.filter(([, s]) => s !== null && s >= 500 && s !== 501);
    expect(fiveHundreds).toEqual([]);
    // The ones that must be refused, not served.
    const by = Object.fromEntries(answers);
    expect(by['no length']).toBe(411);
    expect(by['huge length']).toBe(413);
    for (const k of ['length not a number', 'two lengths', 'CR inside a header value', 'bad chunk size', 'request line garbage']) expect([k, by[k]]).toEqual([k, 400]);
    expect(await healthy()).toBe(200);
  }, 60_000);

  it('a value nested too deep to serialise, published from a DCS read that bypassed the codec, makes GET /config and /cluster answer 500, not end the process', async () => {
    const cluster = await pg1.loadCluster();
    const deepValue = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`) as Record<string, unknown>;
    const bad = { ...cluster, config: { value: deepValue, version: '9' }, members: cluster.members.map((m) => ({ ...m, data: { ...m.data, tags: deepValue } })) };
    api.publish({ ...snapshot({ role: 'replica', state: 'running' }), cluster: bad });
    const statuses = [];
    for (const path of ['/config', '/cluster']) statuses.push((await fetch(`${base}${path}`)).status);
    expect(statuses).toEqual([500, 500]);
    expect(await healthy()).toBe(200);
    api.publish({ ...snapshot({ role: 'replica', state: 'running' }), cluster });
  });
});
