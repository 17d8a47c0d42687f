/**
 * `--attach` against a running cluster: a local pgha cluster started by the test stands for the
 * user's own, and the attach file's commands are plain `kill`s of its processes. Only the faults
 * with commands run (node-crash, lacking kill_agent/start_agent, is skipped); both rounds must
 * recover with no split-brain window and nothing lost beyond the cluster's bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, SUPERUSER, type LocalCluster } from '@pgha/local-cluster';
import { parseAttachConfig } from '../src/attach.js';
import { runChaos } from '../src/harness.js';
import { formatSummary } from '../src/summary.js';

describe('chaos --attach (pgha on etcd, local kill commands)', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await startLocalCluster({ members: 3, scope: 'attach', timing: { ttl: 10, loopWait: 1, retryTimeout: 3 }, watchdog: true });
    await cluster.waitForPrimary(120_000);
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('runs the faults it has commands for against the existing cluster', async () => {
    const file = JSON.stringify({
      members: cluster.members.map((m) => ({
        name: m.name,
        api: m.apiUrl,
        dsn: `postgresql://${SUPERUSER.username}:${SUPERUSER.password}@127.0.0.1:${m.pgPort}/postgres`,
        vars: { pid: String(m.agent!.child.pid), data: m.dataDir },
      })),
      commands: {
        kill_postmaster: 'kill -9 "$(head -n 1 {data}/postmaster.pid)"',
        stop_agent: 'kill -STOP {pid}',
        cont_agent: 'kill -CONT {pid}',
      },
    });
    const lines: string[] = [];
    const result = await runChaos({
      attach: parseAttachConfig(file, 'attach.json'),
      rounds: 2,
      faults: ['node-crash', 'postmaster-kill', 'agent-freeze'],
      order: 'cycle',
      seed: 1,
      // Ignored when attached: timing and mode come from the cluster's GET /config.
      dcs: 'etcd',
      agent: 'pgha',
      mode: 'on',
      timing: { ttl: 99, loopWait: 99, retryTimeout: 99 },
      watchdog: false,
      echo: false,
      recoveryTimeoutMs: 90_000,
      log: (line) => lines.push(line),
    });
    const report = `${lines.join('\n')}\n${formatSummary(result)}`;

    expect(lines[0], report).toBe('fault node-crash skipped: no killAgent, startAgent for this cluster');
    expect(result.mode, report).toBe('async');
    expect(result.rounds.map((r) => r.fault), report).toEqual(['postmaster-kill', 'agent-freeze']);
    expect(result.rounds.filter((r) => r.primaryAfter === null || r.rejoinedMs === null || r.notes.length > 0), report).toEqual([]);
    // The frozen agent (frozen for the cluster's ttl + 3 s, 13 s) lost the lock.
    expect(result.rounds[1]!.primaryAfter, report).not.toBe(result.rounds[1]!.primaryBefore);
    expect(result.violations, report).toEqual([]);
  }, 300_000);
});
