/**
 * End-to-end, issue 21: the agent under a systemd notify socket. A datagram listener stands in
 * for systemd (NOTIFY_SOCKET, WATCHDOG_USEC) and records what one member sends: READY=1 once it
 * serves its API and has joined the cluster, RELOADING=1 then READY=1 around a SIGHUP, WATCHDOG=1
 * pings, STOPPING=1 on shutdown — and the postmaster never sees the socket.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, waitForStreaming } from './support/cluster-checks.js';
import { apiJson } from './support/rest.js';

// ZooKeeper by default (the seed's store; most other files default to etcd); PGHA_E2E_DCS picks the store.
const DCS = (process.env['PGHA_E2E_DCS'] ?? 'zookeeper') as 'etcd' | 'zookeeper';

interface Listener {
  bind(path: string): void;
  on(event: 'message', f: (buf: Buffer) => void): void;
  close(): void;
}
// The agent's own dependency provides the datagram socket (Node has none for Unix sockets).
const { createSocket } = createRequire(new URL('../../agent/package.json', import.meta.url))('unix-dgram') as { createSocket(type: 'unix_dgram'): Listener };

describe(`systemd notifications (${DCS})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgha-notify-'));
  const socketPath = join(dir, 'notify');
  const messages: string[] = [];
  let listener: Listener;
  let cluster: LocalCluster;
  let member: MemberHandle;
  const received = (pattern: RegExp, from = 0) => messages.slice(from).findIndex((m) => pattern.test(m));

  beforeAll(async () => {
    listener = createSocket('unix_dgram');
    listener.on('message', (buf) => messages.push(buf.toString()));
    listener.bind(socketPath);
    // The agent runs as postgres: it must reach the socket, as it reaches /run/systemd/notify.
    chmodSync(dir, 0o755);
    chmodSync(socketPath, 0o777);
    cluster = await startLocalCluster({
      dcs: DCS,
      scope: 'notify',
      timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
      members: 2,
      agentEnv: { 0: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '1000000' } },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    member = cluster.members[0]!;
    await waitForStreaming(cluster, await cluster.waitForPrimary(WAIT_MS));
  });

  afterAll(async () => {
    await cluster?.stop();
    listener?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('READY=1 with the main pid once the member has joined, and its state as STATUS', async () => {
    await waitFor('READY=1', async () => received(/^READY=1$/m) >= 0, WAIT_MS);
    const ready = messages[received(/^READY=1$/m)]!;
    expect(ready).toMatch(new RegExp(`^MAINPID=${member.agent!.child.pid}$`, 'm'));
    // Sent after the first HA cycle, which may still be bootstrapping: the role of that moment.
    expect(ready).toMatch(/^STATUS=(uninitialized|primary|replica|demoted)(, leader|, following pg\d)?: \S.*$/m);
    // By then the member key was written: the cluster lists it.
    expect((await apiJson<{ members: { name: string }[] }>(member, '/cluster')).members.map((m) => m.name)).toContain(member.name);
  });

  it('the postmaster does not inherit NOTIFY_SOCKET', () => {
    const pid = Number(readFileSync(join(member.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ.filter((v) => /^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=/.test(v))).toEqual([]);
  });

  it('WATCHDOG=1 pings at half of WATCHDOG_USEC', async () => {
    const from = messages.length;
    await waitFor('two watchdog pings', async () => messages.slice(from).filter((m) => m === 'WATCHDOG=1').length >= 2, WAIT_MS);
    expect(messages.slice(from).filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(2);
  });

  it('RELOADING=1 with MONOTONIC_USEC, then READY=1 with the settled state, around SIGHUP', async () => {
    const from = messages.length;
    member.reload();
    await waitFor('READY=1 after the reload', async () => received(/^READY=1$/m, from) >= 0, WAIT_MS);
    const reloading = received(/^RELOADING=1$/m, from);
    expect(reloading).toBeGreaterThanOrEqual(0);
    expect(reloading).toBeLessThan(received(/^READY=1$/m, from));
    expect(messages[from + reloading]).toMatch(/^MONOTONIC_USEC=\d+$/m);
    expect(messages[from + received(/^READY=1$/m, from)]).toMatch(/^STATUS=(primary, leader|replica, following pg\d): /m);
  });

  it('STOPPING=1 on shutdown', async () => {
    const from = messages.length;
    await member.stop();
    expect(messages.slice(from)).toContain('STOPPING=1');
  });
});
