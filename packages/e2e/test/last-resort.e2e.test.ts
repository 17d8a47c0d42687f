/**
 * Issue 15: the agent's last resort on real processes. Both members run with the documented test
 * setting PGHA_FAULT_INJECTION, which makes SIGUSR2 raise a fault no code catches inside the
 * agent (an uncaught exception on pg0, an unhandled rejection on pg1). The agent must log it,
 * stop PostgreSQL if it is the primary, and exit with a non-zero code for systemd to restart it;
 * a replica's PostgreSQL is left running. Then the agent, started again, brings its member back.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, isReplica, tail, waitForStreaming } from './support/cluster-checks.js';

let cluster: LocalCluster;

const postmasterRunning = (m: MemberHandle): boolean => existsSync(join(m.dataDir, 'postmaster.pid'));

beforeAll(async () => {
  cluster = await startLocalCluster({
    members: 2,
    timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
    agentEnv: { 0: { PGHA_FAULT_INJECTION: 'uncaughtException' }, 1: { PGHA_FAULT_INJECTION: 'unhandledRejection' } },
    echo: process.env['PGHA_E2E_ECHO'] === '1',
  });
  const primary = await cluster.waitForPrimary(WAIT_MS);
  await waitForStreaming(cluster, primary);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('last resort on an unhandled fault', () => {
  it('a replica: logs the unhandled rejection, exits non-zero, leaves its PostgreSQL running', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const replica = cluster.members.find((m) => m.name !== primary.name) as MemberHandle;
    const agent = replica.agent;
    expect(agent).not.toBeNull();
    agent?.child.kill('SIGUSR2');
    const code = await agent?.exited;
    expect(code, tail(replica)).toBe(70);
    expect(replica.output()).toMatch(/(uncaughtException|unhandledRejection): injected \1 \(PGHA_FAULT_INJECTION\); exiting, PostgreSQL \(a replica\) left running/);
    expect(postmasterRunning(replica)).toBe(true);
    expect(await isReplica(replica)).toBe(true);
    // What systemd does: start it again; it adopts the running replica.
    replica.start();
    await waitForStreaming(cluster, primary);
  }, 180_000);

  it('the primary: logs the uncaught exception, stops PostgreSQL, exits non-zero; the other member takes over', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const agent = primary.agent;
    agent?.child.kill('SIGUSR2');
    const code = await agent?.exited;
    expect(code, tail(primary)).toBe(70);
    expect(primary.output()).toMatch(/(uncaughtException|unhandledRejection): injected \1 \(PGHA_FAULT_INJECTION\); stopping PostgreSQL \(immediate\), then exiting/);
    expect(primary.output()).toMatch(/PostgreSQL stopped after the fault/);
    await waitFor(`${primary.name}'s postmaster gone`, async () => !postmasterRunning(primary), 30_000);
    const next = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(next.name).not.toBe(primary.name);
    primary.start();
    await waitForStreaming(cluster, next);
  }, 240_000);
});
