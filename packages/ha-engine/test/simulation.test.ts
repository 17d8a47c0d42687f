// Three engines over the in-memory DCS with simulated PostgreSQL servers and a fake clock. Each
// scenario checks, after every movement of the clock, that at most one server accepts writes
// (`violations` stays empty).
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulation } from '@pgha/ha-engine/testing';
import { createSimulation } from '@pgha/ha-engine/testing';
import type { MemoryDcs } from './fixtures/memory-dcs.js';
import { memoryDcs } from './fixtures/memory-dcs.js';

let sim: Simulation | null = null;
let dcs: MemoryDcs | null = null;

afterEach(async () => {
  await sim?.close();
  sim = null;
  dcs = null;
});

async function threeNodes(postgresql: Record<string, unknown> = {}, dynamic: Record<string, unknown> = {}): Promise<Simulation> {
  sim = await createSimulation({
    members: ['pg0', 'pg1', 'pg2'],
    store: (name, clock) => {
      dcs ??= memoryDcs(clock);
      return dcs.store(name);
    },
    settings: { bootstrapDcs: { ttl: 30, loop_wait: 10, retry_timeout: 10, ...dynamic }, postgresql },
  });
  return sim;
}

/** What each server is doing: `primary`, `replica(streaming)`, `replica`, `down`, `starting`, ... */
function roles(s: Simulation): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, server] of s.world.servers) {
    out[name] = !server.running ? 'down' : server.state !== 'running' ? server.state : `${server.role}${server.streaming ? '(streaming)' : ''}`;
  }
  return out;
}

function streamingReplicas(s: Simulation): string[] {
  return Object.entries(roles(s))
    .filter(([, r]) => r === 'replica(streaming)')
    .map(([n]) => n)
    .sort();
}

/** Bootstraps and returns the primary's name once both others stream from it. */
async function healthy(s: Simulation): Promise<string> {
  await s.runUntil(() => streamingReplicas(s).length === 2 && s.writablePrimaries().length === 1, 60);
  return s.writablePrimaries()[0] as string;
}

/** Runs `steps` steps, writing WAL on the primary before each. */
async function traffic(s: Simulation, steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) {
    s.write(4096);
    await s.step();
  }
}

describe('simulation: three members', () => {
  it('bootstrap gives one primary and two streaming replicas', async () => {
    const s = await threeNodes();
    const primary = await healthy(s);
    // Exactly one member won the initialize race and bootstrapped; the others cloned from it.
    const bootstrappers = [...s.nodes.values()].filter((n) => n.reports.some((r) => r.reason === 'trying to bootstrap a new cluster'));
    expect(bootstrappers.map((n) => n.name)).toEqual([primary]);
    for (const n of s.nodes.values()) {
      if (n.name !== primary) expect(n.reports.some((r) => r.reason === `trying to bootstrap from leader '${primary}'`)).toBe(true);
    }
    expect(s.leader()).toBe(primary);
    expect(s.lastReason(primary)).toBe(`no action. I am (${primary}), the leader with the lock`);
    // All three data directories belong to the same cluster.
    expect(new Set([...s.world.servers.values()].map((x) => x.systemId)).size).toBe(1);
    expect(s.violations).toEqual([]);
  });

  it('the primary node crashes: exactly one replica promotes, the other follows it, the old node rejoins', async () => {
    const s = await threeNodes({ use_pg_rewind: true });
    const old = await healthy(s);
    await traffic(s, 3);
    // The last WAL never reaches the replicas: the old primary's timeline will have diverged.
    s.write(8192);
    await s.crash(old);
    await s.runUntil(() => s.writablePrimaries().length === 1 && streamingReplicas(s).length === 1, 60);
    const [fresh] = s.writablePrimaries();
    expect(fresh).not.toBe(old);
    const promoted = [...s.nodes.values()].filter((n) => n.reports.some((r) => r.reason === 'promoted self to leader by acquiring session lock'));
    expect(promoted.map((n) => n.name)).toEqual([fresh]);
    expect(s.world.server(fresh as string).timeline).toBe(2);

    // The old node comes back: its agent rewinds the diverged data directory and it streams again.
    s.restartAgent(old);
    await s.runUntil(() => streamingReplicas(s).length === 2, 60);
    expect(s.nodes.get(old)?.reports.some((r) => r.reason === `running pg_rewind from ${fresh}`)).toBe(true);
    expect(s.world.server(old).timeline).toBe(2);
    expect(s.violations).toEqual([]);
  });

  it('switchover through the failover key', async () => {
    const s = await threeNodes();
    const old = await healthy(s);
    const candidate = old === 'pg2' ? 'pg1' : 'pg2';
    await traffic(s, 2);
    // What POST /switchover does: write the failover key (here through another member's store).
    const writer = [...s.nodes.values()].find((n) => n.name !== old) as { store: { setFailover: (f: object) => Promise<boolean> } };
    expect(await writer.store.setFailover({ leader: old, member: candidate })).toBe(true);
    await s.runUntil(() => s.writablePrimaries()[0] === candidate && streamingReplicas(s).length === 2, 30);
    expect(s.nodes.get(old)?.reports.some((r) => r.reason === 'switchover: demoting myself')).toBe(true);
    // The request is cleared once done.
    const cluster = await s.nodes.get(candidate)?.store.loadCluster();
    expect(cluster?.failover?.value ?? {}).toEqual({});
    expect(cluster?.leader?.name).toBe(candidate);
    // No data lost: the old primary streams from the new one without a rewind.
    expect(s.nodes.get(old)?.reports.some((r) => r.reason.startsWith('running pg_rewind'))).toBe(false);
    expect(s.violations).toEqual([]);
  });

  it("the primary's agent hangs: the safety deadline stops PostgreSQL before the lease can pass to another member", async () => {
    const s = await threeNodes();
    const old = await healthy(s);
    const frozenAt = s.clock.now();
    s.freezeAgent(old);
    await s.runUntil(() => s.writablePrimaries().length === 1 && s.writablePrimaries()[0] !== old, 60);
    // Fenced by the timer alone (the agent ran no cycle), before anyone else promoted.
    const promotedAt = s.clock.now();
    expect(s.world.server(old).running).toBe(false);
    expect(promotedAt - frozenAt).toBeGreaterThanOrEqual(25_000);
    expect(s.violations).toEqual([]);
  });

  it('the DCS is cut off from the primary: it steps down in time, another member takes over, it rejoins after the cut heals', async () => {
    const s = await threeNodes({ use_pg_rewind: true });
    const old = await healthy(s);
    dcs?.backend.faults.unreachable({ member: old });
    await s.runUntil(() => s.writablePrimaries().length === 1 && s.writablePrimaries()[0] !== old, 60);
    const reasons = s.nodes.get(old)?.reports.map((r) => r.reason) ?? [];
    expect(reasons.some((r) => r.startsWith('DCS is not accessible; continue to run as a leader while the leader lock is valid'))).toBe(true);
    dcs?.backend.faults.heal();
    await s.runUntil(() => streamingReplicas(s).length === 2, 60);
    expect(s.violations).toEqual([]);
  });

  it('PostgreSQL crashes on the primary (the agent lives): restarted in place, no failover, same timeline', async () => {
    const s = await threeNodes();
    const primary = await healthy(s);
    s.world.crash(primary);
    await s.runUntil(() => s.writablePrimaries()[0] === primary && streamingReplicas(s).length === 2, 30);
    expect(s.nodes.get(primary)?.reports.some((r) => r.reason === 'starting primary after failure')).toBe(true);
    expect(s.world.server(primary).timeline).toBe(1);
    expect([...s.nodes.values()].some((n) => n.reports.some((r) => r.reason.startsWith('promoted')) && n.name !== primary)).toBe(false);
    expect(s.violations).toEqual([]);
  });

  it('with primary_start_timeout 0 a PostgreSQL crash on the primary fails over at once', async () => {
    const s = await threeNodes({}, { primary_start_timeout: 0 });
    const old = await healthy(s);
    const crashedAt = s.clock.now();
    s.world.crash(old);
    await s.runUntil(() => s.writablePrimaries().length === 1 && s.writablePrimaries()[0] !== old, 30);
    expect(s.nodes.get(old)?.reports.some((r) => r.reason === 'stopped PostgreSQL to fail over after a crash')).toBe(true);
    // Before the 30 s ttl could run out: the old primary released the lock rather than letting it expire.
    expect(s.clock.now() - crashedAt).toBeLessThan(30_000);
    await s.runUntil(() => streamingReplicas(s).length === 2, 30);
    expect(s.violations).toEqual([]);
  });
});
