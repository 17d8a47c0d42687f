/**
 * A simulation harness: N engines over any DCS (a ClusterStore per member, typically the
 * in-memory driver from `@pgha/dcs`), with simulated PostgreSQL servers and a fake clock. Step
 * it, break things (crash a node, freeze its agent, cut its DCS), and inspect — for the
 * engine's own tests and for anyone checking a change of rules or settings against scenarios.
 *
 * A step advances the clock by `stepMs` (background actions progress, sessions expire, safety
 * deadlines fire), lets replicas catch up, then runs one cycle of every live agent, in order.
 * The split-brain invariant is checked after every clock movement: at most one server accepts
 * writes, and at most one agent claims to be the primary holding the lock. Violations are
 * recorded in `violations`.
 *
 * The harness runs on a fake clock, so its stores must time their sessions on that clock (the
 * in-memory driver does). To try the engine against a networked DCS instead, combine
 * `createHaLoop`, `FakePostgresWorld` and `nodeClock` directly: everything then runs in real time.
 */
import type { ClusterStore, Logger } from '@pgha/dcs';
import { silentLogger } from '@pgha/dcs';
import type { LocalEngineSettings } from '../core/config.js';
import type { FakeClock } from './fake-clock.js';
import { createFakeClock } from './fake-clock.js';
import type { FakePostgresTimings } from './fake-postgres.js';
import { FakePostgresWorld } from './fake-postgres.js';
import type { CycleReport, HaLoop } from '../runtime/loop.js';
import { createHaLoop } from '../runtime/loop.js';
import { unreachable } from '../runtime/peer-status.js';
import type { PeerProbe, WatchdogPort } from '../runtime/ports.js';
import type { MemberIdentity, PeerStatus } from '../core/snapshot.js';

export interface SimulationMember {
  name: string;
  tags?: Record<string, unknown>;
}

export interface SimulationOptions {
  members: (string | SimulationMember)[];
  /** The cluster store of one member; it must time its session on `clock`. */
  store(name: string, clock: FakeClock): ClusterStore | Promise<ClusterStore>;
  settings?: LocalEngineSettings;
  timings?: Partial<FakePostgresTimings>;
  /** Simulated milliseconds per step (default 1000). */
  stepMs?: number;
  logger?: Logger;
  watchdog?: (name: string) => WatchdogPort;
  clock?: FakeClock;
}

export interface SimulationNode {
  name: string;
  identity: MemberIdentity;
  loop: HaLoop;
  store: ClusterStore;
  /** The agent runs cycles. */
  agentUp: boolean;
  /** The machine is up (its REST API answers probes). */
  machineUp: boolean;
  /** Every cycle this node ran, oldest first. */
  reports: CycleReport[];
}

export interface Simulation {
  readonly clock: FakeClock;
  readonly world: FakePostgresWorld;
  readonly nodes: Map<string, SimulationNode>;
  /** `{ time, primaries }` for every moment two servers accepted writes. */
  readonly violations: { time: number; primaries: string[] }[];
  /** One step; returns this step's reports by member. */
  step(): Promise<Map<string, CycleReport>>;
  /** Steps until `done()` is true (checked after each step); returns the number of steps, or throws after `maxSteps`. */
  runUntil(done: () => boolean, maxSteps?: number): Promise<number>;
  /** Moves the clock (background actions and timers run) without running cycles. */
  advance(ms: number): Promise<void>;
  /** The whole machine dies: PostgreSQL crashes, the agent stops, the API stops answering. */
  crash(name: string): Promise<void>;
  /** The agent stops cycling (SIGSTOP); PostgreSQL and the agent's timers keep going. */
  freezeAgent(name: string): void;
  /** A stopped agent starts again, with fresh state (as after a process restart). */
  restartAgent(name: string): void;
  /** Writes WAL on whichever server accepts writes. */
  write(bytes: number): void;
  /** Servers accepting writes now. */
  writablePrimaries(): string[];
  /** The lock holder according to the newest cycle of any live agent. */
  leader(): string | null;
  /** The last reason logged by `name`. */
  lastReason(name: string): string | null;
  close(): Promise<void>;
}

export async function createSimulation(options: SimulationOptions): Promise<Simulation> {
  const clock = options.clock ?? createFakeClock();
  const world = new FakePostgresWorld(clock, options.timings);
  const stepMs = options.stepMs ?? 1000;
  const logger = options.logger ?? silentLogger;
  const nodes = new Map<string, SimulationNode>();
  const violations: { time: number; primaries: string[] }[] = [];

  const checkInvariant = (): void => {
    const primaries = world.writablePrimaries();
    if (primaries.length > 1) violations.push({ time: clock.now(), primaries });
    // What the agents claim (their REST API would answer /primary with 200): lock and primary role.
    const claimants = [...nodes.values()]
      .filter((n) => n.machineUp && n.loop.status().holdsLock && n.loop.status().role === 'primary')
      .map((n) => n.name);
    if (claimants.length > 1) violations.push({ time: clock.now(), primaries: claimants.map((c) => `${c} (agent)`) });
  };

  const probe: PeerProbe = {
    async probe(targets) {
      return targets.map((t): PeerStatus => {
        const node = [...nodes.values()].find((n) => n.identity.apiUrl === t.apiUrl);
        if (!node || !node.machineUp) return unreachable(t.name, 'connection refused');
        const s = world.server(node.name);
        if (!s.running || s.state !== 'running') return unreachable(t.name, 'PostgreSQL is not running');
        return {
          name: t.name,
          reachable: true,
          inRecovery: s.role !== 'primary',
          walPosition: s.lsn,
          timeline: s.timeline,
          tags: node.identity.tags,
          watchdogFailed: false,
        };
      });
    },
  };

  const makeLoop = (name: string, identity: MemberIdentity, store: ClusterStore): HaLoop => {
    const loopOptions: Parameters<typeof createHaLoop>[0] = {
      me: identity,
      store,
      postgres: world.port(name),
      peers: probe,
      clock,
      logger,
      settings: options.settings ?? {},
    };
    if (options.watchdog) loopOptions.watchdog = options.watchdog(name);
    return createHaLoop(loopOptions);
  };

  for (const m of options.members) {
    const member = typeof m === 'string' ? { name: m } : m;
    const identity: MemberIdentity = {
      name: member.name,
      connUrl: `postgres://${member.name}:5432/postgres`,
      apiUrl: `http://${member.name}:8008/patroni`,
      tags: member.tags ?? {},
      version: '3.0.2',
    };
    world.server(member.name);
    const store = await options.store(member.name, clock);
    nodes.set(member.name, {
      name: member.name,
      identity,
      store,
      loop: makeLoop(member.name, identity, store),
      agentUp: true,
      machineUp: true,
      reports: [],
    });
  }

  /** Waits for `p`, moving the clock in small increments if it waits on simulated time. */
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    const watched = p.finally(() => {
      done = true;
    });
    await clock.settle();
    while (!done) {
      await clock.advance(100);
      world.replicate();
      checkInvariant();
    }
    return watched;
  };

  const advance = async (ms: number): Promise<void> => {
    // In slices, so the invariant is checked at (about) every moment something happens.
    for (let left = ms; left > 0; left -= 100) {
      await clock.advance(Math.min(100, left));
      world.replicate();
      checkInvariant();
    }
  };

  const sim: Simulation = {
    clock,
    world,
    nodes,
    violations,
    async step() {
      await advance(stepMs);
      const reports = new Map<string, CycleReport>();
      for (const node of nodes.values()) {
        if (!node.agentUp || node.loop.stopped) continue;
        const report = await drive(node.loop.runCycle());
        node.reports.push(report);
        reports.set(node.name, report);
        world.replicate();
        checkInvariant();
      }
      return reports;
    },
    async runUntil(done, maxSteps = 300) {
      for (let i = 1; i <= maxSteps; i++) {
        await sim.step();
        if (done()) return i;
      }
      throw new Error(`simulation: condition not reached after ${maxSteps} steps; last reasons: ${summary()}`);
    },
    advance,
    async crash(name) {
      const node = mustGet(name);
      node.machineUp = false;
      node.agentUp = false;
      world.crash(name);
      await drive(node.loop.stop());
    },
    freezeAgent(name) {
      mustGet(name).agentUp = false;
    },
    restartAgent(name) {
      const node = mustGet(name);
      void node.loop.stop();
      node.loop = makeLoop(name, node.identity, node.store);
      node.agentUp = true;
      node.machineUp = true;
    },
    write(bytes) {
      for (const p of world.writablePrimaries()) world.write(p, bytes);
    },
    writablePrimaries: () => world.writablePrimaries(),
    leader() {
      let best: { at: number; leader: string | null } | null = null;
      for (const node of nodes.values()) {
        if (!node.agentUp) continue;
        const last = node.reports[node.reports.length - 1];
        const cluster = last?.snapshot.cluster;
        if (!last || !cluster || 'error' in cluster) continue;
        if (!best || last.snapshot.now >= best.at) best = { at: last.snapshot.now, leader: cluster.leader?.name ?? null };
      }
      return best?.leader ?? null;
    },
    lastReason(name) {
      const reports = mustGet(name).reports;
      return reports[reports.length - 1]?.reason ?? null;
    },
    async close() {
      for (const node of nodes.values()) {
        await drive(node.loop.stop());
        await node.store.close();
      }
    },
  };

  function mustGet(name: string): SimulationNode {
    const node = nodes.get(name);
    if (!node) throw new Error(`simulation: no member ${name}`);
    return node;
  }

  function summary(): string {
    return [...nodes.values()].map((n) => `${n.name}: ${sim.lastReason(n.name) ?? '-'}`).join('; ');
  }

  return sim;
}
