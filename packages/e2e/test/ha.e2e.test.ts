/**
 * End-to-end: three real agents, a real DCS and real PostgreSQL servers on loopback, driven
 * through the failures of the ha-engine issue — postmaster kill, switchover, node crash, a frozen
 * agent, the DCS down — on one cluster per DCS, each scenario leaving it healthy for the next.
 * Throughout, a prober writes to every member and fails the scenario if two ever accepted writes
 * at the same time (by the servers' shared clock). Tests assert outcomes only (who is primary, rows, streaming), with
 * generous bounds on every wait; no duration is asserted.
 *
 * Each member runs with a watchdog (the FIFO testing driver, supervised by the harness, which
 * SIGKILLs that member's PostgreSQL when it fires): only a watchdog can stop the writes of a
 * primary whose agent is frozen, as Patroni relies on one too.
 *
 * PGHA_E2E_DCS=etcd (or zookeeper) runs one DCS only; PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLICATION, startLocalCluster, type DcsKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { PROBE_TABLE_DDL, query, splitBrainWindows, startProber, tryQuery, type Prober } from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary, isReplica, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { api } from './support/rest.js';

// loop_wait + 2 * retry_timeout <= ttl, as Patroni requires; short so each scenario is quick.
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECRET_ENV = { PATRONI_REPLICATION_PASSWORD: REPLICATION.password };

describe.each<DcsKind>((process.env["PGHA_E2E_DCS"]?.split(",") ?? ["etcd", "zookeeper"]) as DcsKind[])('HA cluster on %s', (dcs) => {
  let cluster: LocalCluster;
  let prober: Prober | undefined;
  let nextId = 1;

  const expectNoSplitBrain = () => {
    expect(splitBrainWindows(prober?.intervals() ?? []), 'times when two members accepted writes').toEqual([]);
  };


  // Setup, not a scenario: a failed assertion in one test must not leave the others without
  // their tables or the split-brain checker.
  beforeAll(async () => {
    // A password given the Patroni way, in the environment (the YAML has the same one).
    const agentEnv = { 0: SECRET_ENV, 1: SECRET_ENV, 2: SECRET_ENV };
    cluster = await startLocalCluster({ dcs, timing: TIMING, watchdog: true, agentEnv, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await healthyPrimary(cluster);
    await query(primary, PROBE_TABLE_DDL);
    await query(primary, 'CREATE TABLE e2e_rows (id int PRIMARY KEY, note text)');
    for (const m of cluster.members) {
      await waitFor(`the tables on ${m.name}`, async () => (await tryQuery(m, 'SELECT 1 FROM e2e_rows')) !== null, WAIT_MS);
    }
    prober = startProber(cluster.members, { intervalMs: 100 });
  });

  afterAll(async () => {
    await prober?.stop();
    await cluster?.stop();
  });

  it('bootstraps one primary and two streaming replicas', async () => {
    const primary = await healthyPrimary(cluster);
    const roles = async () => Promise.all(cluster.members.map(async (m) => (await m.status())?.['role']));
    // The API answers from the last cycle, which may predate the streaming we just saw.
    await waitFor('the API to report one primary and two replicas', async () => {
      const r = await roles();
      return r.filter((x) => x === 'master').length === 1 && r.filter((x) => x === 'replica').length === 2;
    }, WAIT_MS).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await roles())}`);
    });
    expect((await primary.status())?.['role']).toBe('master');
    await waitFor('the prober to see the primary accept writes', async () => prober!.writableNow().includes(primary.name), 30_000);
    expect(prober!.writableNow()).toEqual([primary.name]);
  });

  it('replicates a row written on the primary to both replicas', async () => {
    const primary = await healthyPrimary(cluster);
    const id = nextId++;
    await query(primary, 'INSERT INTO e2e_rows (id, note) VALUES ($1, $2)', [id, `written on ${primary.name}`]);
    for (const m of cluster.members) await waitForRow(m, 'e2e_rows', id);
    const replicas = cluster.members.filter((m) => m !== primary);
    for (const m of replicas) expect(await isReplica(m)).toBe(true);
    expectNoSplitBrain();
  });

  it("PostgreSQL does not inherit the agent's PATRONI_* secrets (/proc/<postmaster>/environ)", async () => {
    for (const m of cluster.members) {
      const pid = readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(environ.some((e) => e.startsWith('PATH=')), `${m.name}'s postmaster environment was read`).toBe(true);
      expect(environ.filter((e) => e.startsWith('PATRONI_REPLICATION_PASSWORD=')), m.name).toEqual([]);
    }
  });

  it('restarts the postmaster in place when only it is killed', async () => {
    const primary = await healthyPrimary(cluster);
    expect(primary.killPostmaster()).toBe(true);
    await waitFor(`${primary.name} accepting writes again`, async () => {
      return (await tryQuery(primary, 'INSERT INTO e2e_rows (id, note) VALUES ($1, $2)', [nextId, 'after postmaster kill'])) !== null;
    }, WAIT_MS, 200).catch((e: unknown) => { throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`); });
    const id = nextId++;
    const after = await healthyPrimary(cluster);
    expect(after.name).toBe(primary.name);
    for (const m of cluster.members) await waitForRow(m, 'e2e_rows', id);
    expectNoSplitBrain();
  });

  it('switches over to the named candidate, and the old primary streams from it', async () => {
    const primary = await healthyPrimary(cluster);
    const candidate = cluster.members.find((m) => m !== primary)!;
    const res = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name }, 60_000);
    expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: `Successfully switched over to "${candidate.name}"` });
    const after = await cluster.waitForPrimary(WAIT_MS);
    expect(after.name).toBe(candidate.name);
    await waitForStreaming(cluster, candidate).catch((e: unknown) => { throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`); });
    expect(await isReplica(primary)).toBe(true);
    const id = nextId++;
    await query(candidate, 'INSERT INTO e2e_rows (id, note) VALUES ($1, $2)', [id, 'after switchover']);
    await waitForRow(primary, 'e2e_rows', id);
    expectNoSplitBrain();
  });

  it('fails over when the primary node crashes, and the old primary rejoins as a replica', async () => {
    const primary = await healthyPrimary(cluster);
    const id = nextId++;
    await query(primary, 'INSERT INTO e2e_rows (id, note) VALUES ($1, $2)', [id, 'before crash']);
    for (const m of cluster.members) await waitForRow(m, 'e2e_rows', id);
    await primary.killAgent();
    primary.killPostmaster();
    const promoted = await cluster.waitForPrimary(WAIT_MS, primary.name);
    expect(promoted.name).not.toBe(primary.name);
    // Nothing committed before the crash (and replicated) is lost.
    await waitForRow(promoted, 'e2e_rows', id);
    primary.start();
    await waitForStreaming(cluster, promoted).catch((e: unknown) => { throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`); });
    expect(await isReplica(primary)).toBe(true);
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(promoted.name);
    expectNoSplitBrain();
  });

  it('stops writes on a primary whose agent is frozen longer than ttl before another is promoted', async () => {
    const primary = await healthyPrimary(cluster);
    primary.freezeAgent();
    let promoted: MemberHandle;
    try {
      promoted = await cluster.waitForPrimary(WAIT_MS, primary.name);
      // Stay frozen a while after the promotion: the old primary must not take writes meanwhile.
      await waitFor(`${promoted.name} accepting writes`, async () => prober!.writableNow().includes(promoted.name), WAIT_MS);
      await sleep(3000);
      expectNoSplitBrain();
      // The watchdog killed its PostgreSQL: the probe is refused, not merely unanswered.
      expect(prober!.lastOutcome(primary.name)).toBe('refused');
    } finally {
      primary.thawAgent();
    }
    await waitForStreaming(cluster, promoted).catch((e: unknown) => { throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`); });
    expect(await isReplica(primary)).toBe(true);
    expectNoSplitBrain();
  });

  it('demotes the primary while the DCS is down longer than retry_timeout, and recovers when it returns', async () => {
    const primary = await healthyPrimary(cluster);
    await cluster.dcs.stop();
    try {
      // Demoted: the probe is refused (read-only, or the server restarting), not merely unanswered.
      await waitFor(`${primary.name} refusing writes`, async () => prober!.lastOutcome(primary.name) === 'refused', WAIT_MS, 250)
        .catch((e: unknown) => { throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`); });
      expect(prober!.writableNow()).toEqual([]);
    } finally {
      await cluster.dcs.start();
    }
    const after = await healthyPrimary(cluster);
    const id = nextId++;
    await query(after, 'INSERT INTO e2e_rows (id, note) VALUES ($1, $2)', [id, 'after the DCS returned']);
    for (const m of cluster.members) await waitForRow(m, 'e2e_rows', id);
    expectNoSplitBrain();
  });
});
