/**
 * Patroni's own `patronictl` (Debian's 3.0.2) drives a running 2-member pgha cluster on etcd
 * through the REST API and the DCS: every command an operator uses day to day.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';

const PATRONICTL = '/usr/bin/patronictl';
const API_USER = { username: 'ctl-admin', password: 'ctl-secret' };
let cluster: LocalCluster;
let ctlConfig: string;

/** Runs patronictl; resolves with stdout+stderr whatever the exit code (the assertions judge the text). */
function ctl(args: string[], timeoutMs = 90_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      PATRONICTL,
      ['-c', ctlConfig, ...args],
      { timeout: timeoutMs, env: { ...process.env, HOME: cluster.root, PGPASSWORD: SUPERUSER.password, PAGER: 'cat' } },
      (_err, stdout, stderr) => resolve(`${stdout}${stderr}`),
    );
  });
}

async function leaderName(): Promise<string> {
  return (await cluster.waitForPrimary(90_000)).name;
}

async function replicaStreaming(m: MemberHandle): Promise<void> {
  await waitFor(`${m.name} streaming`, async () => {
    const s = await m.status();
    return s?.['role'] === 'replica' && s['state'] === 'running';
  }, 120_000, 250);
}

const other = (name: string) => (name === 'pg0' ? 'pg1' : 'pg0');
const member = (name: string) => cluster.members.find((m) => m.name === name)!;

beforeAll(async () => {
  // The agents read these (Patroni's environment variables) and require Basic auth on unsafe calls.
  process.env['PATRONI_RESTAPI_USERNAME'] = API_USER.username;
  process.env['PATRONI_RESTAPI_PASSWORD'] = API_USER.password;
  cluster = await startLocalCluster({ members: 2, dcs: 'etcd', scope: 'ctl', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 } });
  delete process.env['PATRONI_RESTAPI_USERNAME'];
  delete process.env['PATRONI_RESTAPI_PASSWORD'];
  ctlConfig = join(cluster.root, 'patronictl.yml');
  writeFileSync(
    ctlConfig,
    [
      'scope: ctl',
      'namespace: /service',
      'etcd3:',
      `  hosts: [${cluster.dcs.endpoints.map((e) => `'${e.replace(/^https?:\/\//, '')}'`).join(', ')}]`,
      // patronictl 3.0.2 authenticates with `restapi.authentication` (later versions also read `ctl`).
      'restapi:',
      '  authentication:',
      `    username: ${API_USER.username}`,
      `    password: ${API_USER.password}`,
      '',
    ].join('\n'),
  );
  const leader = await leaderName();
  await replicaStreaming(member(other(leader)));
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
}, 120_000);

describe('patronictl against pgha', { timeout: 150_000 }, () => {
  it('list shows both members with the leader and a streaming replica', async () => {
    const out = await ctl(['list']);
    expect(out).toContain('Cluster: ctl');
    expect(out).toMatch(/pg0.*\|/);
    expect(out).toMatch(/pg1.*\|/);
    expect(out).toMatch(/Leader\s*\|\s*running/);
    expect(out).toMatch(/Replica\s*\|\s*(running|streaming)/);
  });

  it('edit-config and show-config change and read the dynamic configuration', async () => {
    const out = await ctl(['edit-config', '--force', '-s', 'maximum_lag_on_failover=2097152', '-p', 'work_mem=8MB']);
    expect(out).toContain('Configuration changed');
    const shown = await ctl(['show-config']);
    expect(shown).toContain('maximum_lag_on_failover: 2097152');
    expect(shown).toContain('work_mem: 8MB');
  });

  it('pause and resume go through PATCH /config', async () => {
    expect(await ctl(['pause'])).toContain('Success: cluster management is paused');
    const listed = await ctl(['list']);
    expect(listed).toContain('Maintenance mode: on');
    expect(await ctl(['pause'])).toContain('Cluster is already paused');
    expect(await ctl(['resume'])).toContain('Success: cluster management is resumed');
  });

  it('dsn and query reach the leader through the DCS member keys', async () => {
    const dsn = await ctl(['dsn']);
    const leader = member(await leaderName());
    expect(dsn).toContain(`port=${leader.pgPort}`);
    const out = await ctl(['query', '-U', SUPERUSER.username, '-d', 'postgres', '-c', 'SELECT 40 + 2 AS answer']);
    expect(out).toContain('42');
  });

  it('reload asks every member through POST /reload', async () => {
    const out = await ctl(['reload', 'ctl', '--force']);
    expect(out).toContain('Reload request received for member pg0');
    expect(out).toContain('Reload request received for member pg1');
  });

  it('restart restarts PostgreSQL on a member and waits for it', async () => {
    const replica = other(await leaderName());
    const before = (await member(replica).status())?.['postmaster_start_time'];
    const out = await ctl(['restart', 'ctl', replica, '--force']);
    expect(out).toContain(`Success: restart on member ${replica}`);
    const after = (await member(replica).status())?.['postmaster_start_time'];
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
  });

  it('reinit reinitializes the replica', async () => {
    const replica = other(await leaderName());
    const out = await ctl(['reinit', 'ctl', replica, '--force']);
    expect(out).toContain(`Success: reinitialize for member ${replica}`);
    await replicaStreaming(member(replica));
  });

  it('flush removes a scheduled switchover and reports no scheduled restart', async () => {
    const leader = await leaderName();
    const scheduled = await ctl(['switchover', '--force', '--leader', leader, '--candidate', other(leader), '--scheduled', '2099-01-01T00:00:00+00:00']);
    expect(scheduled).toContain('Switchover scheduled');
    expect(await ctl(['flush', 'ctl', 'switchover'])).toContain('Success: scheduled switchover deleted');
    expect(await ctl(['flush', 'ctl', 'restart', '--force'])).toContain('No scheduled restart for member');
  });

  it('switchover moves the leader to the replica', async () => {
    const leader = await leaderName();
    const candidate = other(leader);
    await replicaStreaming(member(candidate));
    const out = await ctl(['switchover', '--force', '--leader', leader, '--candidate', candidate]);
    expect(out).toContain(`Successfully switched over to "${candidate}"`);
    expect((await cluster.waitForPrimary(90_000)).name).toBe(candidate);
  });

  it('failover moves the leader back to the named candidate', async () => {
    const leader = await leaderName();
    const candidate = other(leader);
    await replicaStreaming(member(candidate));
    const out = await ctl(['failover', '--force', '--candidate', candidate]);
    expect(out).toMatch(new RegExp(`Successfully (failed|switched) over to "${candidate}"`));
    expect((await cluster.waitForPrimary(90_000)).name).toBe(candidate);
  });

  it('history lists the timeline switches', async () => {
    // The leader writes the history key after its promotion; give it a cycle or two.
    let out = '';
    await waitFor('two timeline switches in history', async () => {
      out = await ctl(['history']);
      return (out.match(/\|\s+\d+\s+\|\s+\d+\s+\|/g) ?? []).length >= 2;
    }, 60_000, 1000);
    expect(out).toMatch(/TL\s*\|\s*LSN\s*\|\s*Reason/);
  });
});
