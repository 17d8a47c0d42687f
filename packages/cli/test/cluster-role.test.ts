// demote-cluster / promote-cluster (patronictl 4.1): one PATCH /config of `standby_cluster` on the
// leader's REST API, then polling the DCS until the leader reports the new role, running. The
// leader's API here is a small HTTP server that records the request; the "agent" is the sleep
// hook, which rewrites the leader's member key as the real agent would.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberJson, seedCluster } from './fixtures/memory-cluster.ts';

let server: Server;
let apiUrl = '';
const requests: { method: string; url: string; body: unknown }[] = [];
let answer = 200;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body: body ? JSON.parse(body) : null });
      res.writeHead(answer, { 'Content-Type': 'text/plain' });
      res.end(answer === 200 ? '{}' : 'not allowed');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/patroni`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const seed = (leaderRole: string, config: Record<string, unknown> = {}) =>
  seedCluster({
    members: {
      pg0: memberJson('pg0', 5433, { role: leaderRole, api_url: apiUrl, xlog_location: 100 }),
      pg1: memberJson('pg1', 5434, { xlog_location: 100 }),
    },
    leader: 'pg0',
    keys: { initialize: '7300000000000000001', config, status: { optime: 100 } },
  });

describe('demote-cluster', () => {
  it("PATCHes standby_cluster with the options given on the leader and waits until it is a running standby leader", async () => {
    requests.length = 0;
    answer = 200;
    const c = await seed('primary');
    let sleeps = 0;
    const agent = async () => {
      // First poll: the old primary is stopping; second: it runs as the standby leader.
      sleeps++;
      const data = sleeps === 1 ? { role: 'replica', state: 'stopping' } : { role: 'standby_leader', state: 'running' };
      await c.drivers[0]!.touchMember(JSON.stringify(memberJson('pg0', 5433, { ...data, api_url: apiUrl })));
    };
    const r = await c.run(['demote-cluster', '--host', '10.0.0.5', '--port', '5433', '--primary-slot-name', 'standby_copy', '--force'], '', { sleep: agent });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(requests).toEqual([{ method: 'PATCH', url: '/config', body: { standby_cluster: { host: '10.0.0.5', port: 5433, primary_slot_name: 'standby_copy' } } }]);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Current cluster topology');
    expect(lines.filter((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /.test(l)).map((l) => l.slice(20))).toEqual([
      'cluster is unlocked: False, leader role: primary, leader state: running',
      'cluster is unlocked: False, leader role: replica, leader state: stopping',
      'cluster is successfully demoted',
    ]);
    // The topology once more at the end, as patronictl shows it.
    expect(r.stdout.split('+ Cluster: demo (7300000000000000001) ').length).toBe(3);
  });

  it('refuses without --host, --port or --restore-command, and when already a standby cluster', async () => {
    requests.length = 0;
    const c = await seed('primary');
    const none = await c.run(['demote-cluster', '--force']);
    expect([none.code, none.stderr]).toEqual([1, 'Error: At least --host, --port or --restore-command should be specified\n']);
    const standby = await seed('standby_leader', { standby_cluster: { host: '10.0.0.5' } });
    const again = await standby.run(['demote-cluster', '--host', '10.0.0.5', '--force']);
    expect([again.code, again.stderr]).toEqual([1, 'Error: Cluster is already in the required state\n']);
    const badPort = await c.run(['demote-cluster', '--port', 'five', '--force']);
    expect(badPort.code).toBe(2);
    expect(requests).toEqual([]);
  });

  it('asks for confirmation, and reports a refused PATCH', async () => {
    requests.length = 0;
    const c = await seed('primary');
    const no = await c.run(['demote-cluster', '--host', '10.0.0.5'], 'n\n');
    expect([no.code, no.stderr]).toEqual([1, 'Error: Aborted cluster demotion\n']);
    expect(no.stdout).toContain('Are you sure you want to demote demo cluster? [y/N]: ');
    answer = 403;
    const refused = await c.run(['demote-cluster', '--restore-command', 'cp /archive/%f %p', '--force']);
    answer = 200;
    expect([refused.code, refused.stderr]).toEqual([1, 'Error: Failed to demote demo cluster: /config PATCH status code=403, (not allowed)\n']);
    expect(requests).toEqual([{ method: 'PATCH', url: '/config', body: { standby_cluster: { restore_command: 'cp /archive/%f %p' } } }]);
  });
});

describe('promote-cluster', () => {
  it('PATCHes standby_cluster: null and waits for a running primary (3.x master counts)', async () => {
    requests.length = 0;
    const c = await seed('standby_leader', { standby_cluster: { host: '10.0.0.5', port: 5433 } });
    const agent = async () => {
      await c.drivers[0]!.touchMember(JSON.stringify(memberJson('pg0', 5433, { role: 'master', state: 'running', api_url: apiUrl })));
    };
    const r = await c.run(['promote-cluster', '--force'], '', { sleep: agent });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(requests).toEqual([{ method: 'PATCH', url: '/config', body: { standby_cluster: null } }]);
    expect(r.stdout).toMatch(/ cluster is successfully promoted\n/);
  });

  it('refuses a cluster that has no leader or is already standalone', async () => {
    const standalone = await seed('primary');
    expect((await standalone.run(['promote-cluster', '--force'])).stderr).toBe('Error: Cluster is already in the required state\n');
    const leaderless = await seedCluster({ members: { pg1: memberJson('pg1', 5434) }, keys: { initialize: '7300000000000000001' } });
    expect((await leaderless.run(['promote-cluster', '--force'])).stderr).toBe('Error: Cluster has no leader, promotion is not possible\n');
  });
});
