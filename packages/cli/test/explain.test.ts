// pghactl explain (issue #18): the failover verdicts from the members' GET /patroni, judged by
// the engine's race rule, and --history from their GET /decisions.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberJson, seedCluster, type SeededCluster } from './fixtures/memory-cluster.js';

const OPTIME = 100_000_000;
const replica = (position: number, tags: Record<string, unknown> = {}) => ({
  state: 'running', role: 'replica', timeline: 1, tags, xlog: { received_location: position, replayed_location: position }, patroni: { version: '0.1.0', scope: 'demo', name: 'x' },
});
/** What each member's API answers, by path (`/pg1/patroni`). */
const answers: Record<string, unknown> = {
  '/pg0/patroni': { state: 'running', role: 'primary', timeline: 1, xlog: { location: OPTIME }, patroni: { version: '0.1.0', scope: 'demo', name: 'pg0' } },
  '/pg1/patroni': replica(OPTIME, { nofailover: true }),
  '/pg2/patroni': replica(OPTIME - 50_000_000),
  '/pg3/patroni': replica(OPTIME),
  '/pg3/decisions': {
    member: 'pg3',
    capacity: 100,
    decisions: [
      { time: '2026-01-01T00:00:02.000Z', count: 1, rule: 'lock-free', code: 'race.won', reason: 'promoted self to leader by acquiring session lock', actions: [], notes: [], facts: { replayLagMs: 0 }, candidates: [{ member: 'pg3', verdict: 'chosen', gate: null, detail: null }, { member: 'pg1', verdict: 'excluded', gate: 'nofailover', detail: 'I am not allowed to promote' }] },
      { time: '2026-01-01T00:00:05.000Z', count: 40, rule: 'leader-with-lock', code: 'leader.renewed', reason: 'no action. I am (pg3), the leader with the lock', actions: ['renew_lock'], notes: [], facts: { replayLagMs: null } },
    ],
  },
};

let server: Server;
let seeded: SeededCluster;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const body = answers[path];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body ? JSON.stringify(body) : 'Not Found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const api = (name: string) => ({ api_url: `http://127.0.0.1:${port}/${name}/patroni` });
  seeded = await seedCluster({
    members: {
      pg0: memberJson('pg0', 5432, { ...api('pg0'), role: 'primary', xlog_location: OPTIME }),
      pg1: memberJson('pg1', 5433, { ...api('pg1'), tags: { nofailover: true }, xlog_location: OPTIME }),
      pg2: memberJson('pg2', 5434, { ...api('pg2'), xlog_location: OPTIME - 50_000_000 }),
      pg3: memberJson('pg3', 5435, { ...api('pg3'), xlog_location: OPTIME }),
    },
    leader: 'pg0',
    keys: { initialize: '7300000000000000001', status: { optime: OPTIME }, config: { maximum_lag_on_failover: 1048576 } },
  });
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('pghactl explain', () => {
  it('names the member that would take over and the gate of every other', async () => {
    const r = await seeded.run(['explain', '-f', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { Member: 'pg0', Verdict: 'leader', Detail: 'assumed failed' },
      { Member: 'pg1', Verdict: 'excluded', Gate: 'nofailover', Detail: 'I am not allowed to promote' },
      { Member: 'pg2', Verdict: 'excluded', Gate: 'lag-bytes', Detail: 'My wal position exceeds maximum replication lag' },
      { Member: 'pg3', Verdict: 'chosen', Detail: 'Member pg0 is not reachable' },
    ]);
    const pretty = await seeded.run(['explain']);
    expect(pretty.stdout).toContain(' if pg0 failed now, pg3 would take over');
  });

  it('--history: the race records of the members, not their steady cycles', async () => {
    const r = await seeded.run(['explain', '--history', '-f', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        Time: '2026-01-01T00:00:02.000Z',
        Member: 'pg3',
        Code: 'race.won',
        Reason: 'promoted self to leader by acquiring session lock',
        Candidates: { pg3: 'chosen', pg1: 'excluded: nofailover (I am not allowed to promote)' },
      },
    ]);
    // Members without decision records are named on stderr, not mixed into the output.
    expect(r.stderr).toContain('Warning: no decision records from pg0: GET /decisions answered 404');
  });
});
