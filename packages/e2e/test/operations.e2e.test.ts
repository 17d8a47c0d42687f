/**
 * End-to-end, operations (issue #9): failsafe mode with the DCS down, maintenance mode, a
 * `pre_promote` script refusing a promotion, and scheduled switchovers — on real agents, a DCS and
 * PostgreSQL on loopback. Two clusters: failsafe mode stops the DCS, the others need it up.
 * Outcomes only (who is primary, who accepted writes); every wait is bounded generously, and the
 * only times compared are "not before the scheduled moment".
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { chmodSync, chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { pghactl } from './support/pghactl.js';
import { api } from './support/rest.js';
import { PROBE_TABLE, PROBE_TABLE_DDL, intervalsWithin, query, splitBrainWindows, startProber, tryQuery, type Prober } from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary, isReplica } from './support/cluster-checks.js';
import { e2eStore } from './support/store.js';

/** etcd in the `e2e` project, ZooKeeper in `e2e-zookeeper` (support/store.ts). */
const DCS = e2eStore();

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const echo = process.env['PGHA_E2E_ECHO'] === '1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));



/**
 * Starts the DCS again and waits until every member has read it since (`dcs_last_seen`, whole
 * seconds): a ZooKeeper client reconnects with a back-off, so the lock holder may still be in
 * failsafe mode when PostgreSQL already looks healthy.
 */
async function restartDcs(cluster: LocalCluster): Promise<void> {
  await cluster.dcs.start();
  const since = Math.floor(Date.now() / 1000);
  await waitFor('every member reading the DCS again', async () => {
    const statuses = await Promise.all(cluster.members.map((m) => m.status()));
    return statuses.every((s) => typeof s?.['dcs_last_seen'] === 'number' && s['dcs_last_seen'] >= since);
  }, WAIT_MS, 250).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
  });
}

/** Waits until every member's last cycle saw `pause` as given (GET /patroni `pause`). */
async function waitForPause(cluster: LocalCluster, paused: boolean): Promise<void> {
  await waitFor(`every member ${paused ? 'paused' : 'resumed'}`, async () => {
    const statuses = await Promise.all(cluster.members.map((m) => m.status()));
    return statuses.every((s) => s !== null && (s['pause'] === true) === paused);
  }, WAIT_MS, 200);
}

describe(`failsafe mode on ${DCS}`, () => {
  let cluster: LocalCluster;
  let prober: Prober | undefined;

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, timing: TIMING, dynamic: { failsafe_mode: true }, echo });
    const primary = await healthyPrimary(cluster);
    await query(primary, PROBE_TABLE_DDL);
    for (const m of cluster.members) {
      await waitFor(`the probe table on ${m.name}`, async () => (await tryQuery(m, `SELECT 1 FROM ${PROBE_TABLE}`)) !== null, WAIT_MS);
    }
    prober = startProber(cluster.members, { intervalMs: 100 });
  });

  afterAll(async () => {
    await prober?.stop();
    await cluster?.stop();
  });

  it('the leader publishes the failsafe topology, served by GET /failsafe', async () => {
    const primary = await healthyPrimary(cluster);
    await waitFor('the failsafe key listing every member', async () => {
      const res = await api(primary, 'GET', '/failsafe');
      if (res.status !== 200) return false;
      const topology = JSON.parse(res.text) as Record<string, string>;
      return cluster.members.every((m) => topology[m.name] === `${m.apiUrl}/patroni`);
    }, WAIT_MS, 250);
  });

  it('with the DCS down, the primary keeps accepting writes past ttl + retry_timeout and no replica promotes', async () => {
    const primary = await healthyPrimary(cluster);
    const startedAt = async () => (await query<{ t: string }>(primary, 'SELECT pg_postmaster_start_time()::text AS t'))[0]!.t;
    const started = await startedAt();
    await cluster.dcs.stop();
    try {
      const stoppedAt = Date.now();
      // Well past the point where it would have demoted without failsafe mode.
      const holdMs = (TIMING.ttl + TIMING.retryTimeout + 5) * 1000;
      await sleep(holdMs);
      // Still taking writes now, with the DCS down...
      await waitFor(`${primary.name} accepting writes after ${holdMs} ms without the DCS`, async () => prober!.writableNow().includes(primary.name), WAIT_MS, 100)
        .catch((e: unknown) => { throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`); });
      // ...and never demoted meanwhile: demoting restarts PostgreSQL.
      expect(await startedAt(), `${primary.name}'s PostgreSQL restarted\n${diagnostics(cluster)}`).toBe(started);
      // Nobody else accepted a write while the DCS was down.
      const others = intervalsWithin(prober!.intervals(), stoppedAt).filter((i) => i.member !== primary.name);
      expect(others, `members other than ${primary.name} accepting writes\n${diagnostics(cluster)}`).toEqual([]);
      const status = await primary.status();
      expect(status?.['failsafe_mode_is_active']).toBe(true);
      for (const m of cluster.members.filter((x) => x !== primary)) expect(await isReplica(m)).toBe(true);
      expect(primary.output()).toContain('continue to run as a leader because failsafe mode is enabled and all members are accessible');
    } finally {
      await restartDcs(cluster);
    }
    expect((await healthyPrimary(cluster)).name).toBe(primary.name);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  });

  it('with failsafe mode turned off, the primary demotes when the DCS goes down', async () => {
    const primary = await healthyPrimary(cluster);
    const patched = await api(primary, 'PATCH', '/config', { failsafe_mode: false });
    expect(patched.status, patched.text).toBe(200);
    // GET /failsafe answers from the member's last cycle: 502 once it has seen the change.
    await waitFor('every member seeing failsafe mode off', async () => {
      const answers = await Promise.all(cluster.members.map((m) => api(m, 'GET', '/failsafe').catch(() => null)));
      return answers.every((a) => a?.status === 502);
    }, WAIT_MS, 250);
    await cluster.dcs.stop();
    try {
      // Demoted: the probe is refused (read-only, or the server restarting), not merely unanswered.
      await waitFor(`${primary.name} refusing writes`, async () => prober!.lastOutcome(primary.name) === 'refused', WAIT_MS, 250).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
      });
      expect(prober!.writableNow()).toEqual([]);
    } finally {
      await restartDcs(cluster);
    }
    await healthyPrimary(cluster);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  });
});

describe(`maintenance mode, pre_promote and scheduled switchover on ${DCS}`, () => {
  let cluster: LocalCluster;
  let prober: Prober | undefined;

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: DCS, timing: TIMING, echo });
    const primary = await healthyPrimary(cluster);
    await query(primary, PROBE_TABLE_DDL);
    for (const m of cluster.members) {
      await waitFor(`the probe table on ${m.name}`, async () => (await tryQuery(m, `SELECT 1 FROM ${PROBE_TABLE}`)) !== null, WAIT_MS);
    }
    prober = startProber(cluster.members, { intervalMs: 100 });
  });

  afterAll(async () => {
    await prober?.stop();
    await cluster?.stop();
  });

  it('paused: a killed postmaster stays down and nobody takes over until resume', async () => {
    const primary = await healthyPrimary(cluster);
    expect((await api(primary, 'PATCH', '/config', { pause: true })).status).toBe(200);
    await waitForPause(cluster, true);
    expect(primary.killPostmaster()).toBe(true);
    // A backend can outlive its postmaster for a moment: from the primary's first refused probe on,
    // nobody may accept a write.
    await waitFor(`${primary.name} refusing writes`, async () => prober!.lastOutcome(primary.name) === 'refused', WAIT_MS, 100);
    const refusedAt = Date.now();
    // Several loops (loop_wait 1 s) and past the ttl: nothing restarts it, nothing is promoted.
    await sleep((TIMING.ttl + 3) * 1000);
    expect(await tryQuery(primary, 'SELECT 1'), `${primary.name} was started again while paused`).toBeNull();
    const writable = intervalsWithin(prober!.intervals(), refusedAt);
    expect(writable, `members accepted writes while the primary was down and the cluster paused\n${diagnostics(cluster)}`).toEqual([]);

    expect((await api(primary, 'PATCH', '/config', { pause: null })).status).toBe(200);
    await waitForPause(cluster, false);
    await healthyPrimary(cluster);
    await waitFor(`${primary.name} running again`, async () => (await tryQuery(primary, 'SELECT 1')) !== null, WAIT_MS, 250);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  });

  it('paused: a switchover needs a named candidate, and works with one', async () => {
    const primary = await healthyPrimary(cluster);
    expect((await api(primary, 'PATCH', '/config', { pause: true })).status).toBe(200);
    await waitForPause(cluster, true);
    try {
      const refused = await api(primary, 'POST', '/switchover', { leader: primary.name });
      expect(refused).toEqual({ status: 400, text: 'Switchover is possible only to a specific candidate in a paused state' });
      // pg1 keeps out of it: the pre_promote scenario below wants it a replica.
      const candidate = cluster.members.find((m) => m !== primary && m.name !== 'pg1')!;
      const done = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name });
      expect(done.status, done.text).toBe(200);
      expect((await cluster.waitForPrimary(WAIT_MS, primary.name)).name).toBe(candidate.name);
    } finally {
      await api(primary, 'PATCH', '/config', { pause: null });
    }
    await waitForPause(cluster, false);
    await healthyPrimary(cluster);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  });

  it('a scheduled switchover happens at its time, not before; flush cancels another', async () => {
    const primary = await healthyPrimary(cluster);
    const candidate = cluster.members.find((m) => m !== primary && m.name !== 'pg1')!;
    const requestedAt = Date.now();
    const at = new Date(requestedAt + 8000);
    const scheduled = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name, scheduled_at: at.toISOString() });
    expect(scheduled).toEqual({ status: 202, text: 'Switchover scheduled' });
    // Until the moment comes, the primary stays.
    while (Date.now() < at.getTime() - 1000) {
      const writable = prober!.writableNow();
      expect(writable.includes(candidate.name), `${candidate.name} took writes before ${at.toISOString()}`).toBe(false);
      await sleep(250);
    }
    const promoted = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(promoted.name).toBe(candidate.name);
    // The server's clock reading of the candidate's first accepted write, after the request (all
    // members share this machine's clock): its promotion came at or after the scheduled moment.
    const firstWrite = () => intervalsWithin(prober!.intervals(), requestedAt).find((i) => i.member === candidate.name);
    await waitFor(`a write accepted by ${candidate.name}`, async () => firstWrite() !== undefined, WAIT_MS, 100);
    expect(firstWrite()!.from, `${candidate.name} took writes before ${at.toISOString()}`).toBeGreaterThanOrEqual(at.getTime());
    await healthyPrimary(cluster);

    const later = new Date(Date.now() + 10 * 60_000);
    expect((await api(candidate, 'POST', '/switchover', { leader: candidate.name, candidate: primary.name, scheduled_at: later.toISOString() })).status).toBe(202);
    // GET /cluster answers from the member's last cycle.
    await waitFor('the scheduled switchover shown by GET /cluster', async () => {
      const view = JSON.parse((await api(candidate, 'GET', '/cluster')).text) as { scheduled_switchover?: { to?: string } };
      return view.scheduled_switchover?.to === primary.name;
    }, WAIT_MS, 250);
    const flushed = await pghactl(candidate, ['flush', cluster.scope, 'switchover', '--force']);
    expect(flushed.code, flushed.stdout + flushed.stderr).toBe(0);
    await waitFor('the scheduled switchover gone from GET /cluster', async () => {
      const view = JSON.parse((await api(candidate, 'GET', '/cluster')).text) as { scheduled_switchover?: unknown };
      return view.scheduled_switchover === undefined;
    }, WAIT_MS, 250);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  });

  it('a failing pre_promote blocks that member’s promotion after a node crash, and another candidate wins', async () => {
    const primary = await healthyPrimary(cluster);
    const refusing = cluster.members.find((m) => m.name === 'pg1')!;
    const other = cluster.members.find((m) => m !== primary && m !== refusing)!;
    expect(primary.name).not.toBe('pg1');
    await addPrePromote(refusing, 'echo "pre_promote refuses" >&2\nexit 1');
    // Only the refusing member may race first: the other one's agent is frozen through the crash.
    other.freezeAgent();
    try {
      await primary.killAgent();
      primary.killPostmaster();
      await waitFor(`${refusing.name} cancelling its promotion`, async () => refusing.output().includes('Promotion cancelled because the pre-promote script failed'), WAIT_MS, 250)
        .catch((e: unknown) => {
          throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
        });
    } finally {
      other.thawAgent();
    }
    const promoted = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(promoted.name).toBe(other.name);
    // It restarts to follow the new primary; once up, it is a replica (never a primary: the
    // prober would have seen two).
    await waitFor(`${refusing.name} running as a replica of ${promoted.name}`, () => isReplica(refusing), WAIT_MS, 250);
    primary.start();
    await healthyPrimary(cluster);
    expect(splitBrainWindows(prober!.intervals()), 'times when two members accepted writes').toEqual([]);
  });
});

/** Adds `postgresql.pre_promote` (a script with `body`) to the member's YAML and reloads it. */
async function addPrePromote(member: MemberHandle, body: string): Promise<void> {
  const dir = join(member.configPath, '..');
  const script = join(dir, 'pre-promote.sh');
  writeFileSync(script, `#!/bin/sh\n${body}\n`);
  chmodSync(script, 0o755);
  const owner = statSync(member.configPath);
  chownSync(script, owner.uid, owner.gid);
  const yaml = readFileSync(member.configPath, 'utf8');
  // The cluster tool writes `postgresql:` as a top-level block with two-space indentation.
  expect(yaml).toMatch(/^postgresql:\n/m);
  writeFileSync(member.configPath, yaml.replace(/^postgresql:\n/m, `postgresql:\n  pre_promote: ${script}\n`));
  const reloadedBefore = reloads(member);
  const reloaded = await api(member, 'POST', '/reload', {});
  expect(reloaded.status).toBe(202);
  // The reload runs in the background: wait until the agent says it took the file in.
  await waitFor(`${member.name} reloading its YAML`, async () => reloads(member) > reloadedBefore, WAIT_MS, 100);
}

/** How many times the member's agent has said it reloaded its configuration file. */
function reloads(member: MemberHandle): number {
  return member.output().split('reloaded the configuration file').length - 1;
}
