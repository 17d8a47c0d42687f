/**
 * One worker process's share of the scale bench (`scale-run.ts` forks the workers): clusters
 * `from`..`to - 1` of 3 members, each member a real HA loop (`createHaLoop`) with a real DCS
 * driver of its own and a fake PostgreSQL (`FakePostgresWorld` from `@pgha/ha-engine/testing`),
 * in real time on `nodeClock`. Records every lock renewal and acquisition; the parent merges the
 * workers' samples (`scale-merge.ts`).
 *
 * etcd connections: by default every member's driver has its own clients (3 gRPC channels, as a
 * real agent has); with `sharedConnections` the members of this worker share one etcd3 client
 * per endpoint (`createSharedClients`), each still with its own lease and watch stream.
 */
import { createClusterStore, silentLogger, type DcsDriver, type DriverOptions, type Logger } from '@pgha/dcs';
import { createDriver as createEtcdDriver, createSharedClients, type SharedEtcdClients } from '@pgha/dcs-etcd';
import { createDriver as createZooKeeperDriver } from '@pgha/dcs-zookeeper';
import { createHaLoop, type HaLoop, type MemberIdentity, type PeerProbe, type PeerStatus } from '@pgha/ha-engine';
import { FakePostgresWorld } from '@pgha/ha-engine/testing';
import { nodeClock, sleep } from '@pgha/primitives';
import type { WorkerSample } from './scale-merge.js';

export type ScaleStore = 'etcd' | 'zookeeper';

export interface ShareOptions {
  /** Global cluster numbers of this share: scopes `scale-<from>` .. `scale-<to - 1>`. */
  from: number;
  to: number;
  store: ScaleStore;
  /** etcd client URLs, or ZooKeeper `host:port`s. */
  endpoints: string[];
  timing: { ttl: number; loopWait: number; retryTimeout: number };
  /** etcd only: the members of this worker share one client per endpoint. */
  sharedConnections: boolean;
  /** Clusters started together (each member answering one read before its loop starts). */
  batch: number;
  /** Monotonic ms (from the share's start) at which batch `j` may start: the parent's stagger. */
  batchStartMs(j: number): number;
  /** A logger for the drivers and loops of cluster 0 (diagnostics); default silent. */
  firstClusterLogger?: Logger;
}

interface MemberRun {
  loop: HaLoop;
  driver: DcsDriver;
}

/** Per-member renewal bookkeeping, counted only inside the window. */
export class RenewalRecorder {
  latencies: number[] = [];
  failed = 0;
  late = 0;
  acquired = 0;
  measuring = false;
  readonly leaders = new Map<number, string>();
  private readonly lastRenewal = new Map<string, number>();
  private readonly maxGapMs: number;

  constructor(loopWaitS: number) {
    this.maxGapMs = 2 * loopWaitS * 1000;
  }

  renewed(member: string, cluster: number, startedAt: number, ms: number, held: boolean): void {
    if (!this.measuring) {
      if (held) this.lastRenewal.set(member, startedAt);
      return;
    }
    this.latencies.push(ms);
    if (!held) {
      this.failed++;
      this.lastRenewal.delete(member);
      if (this.leaders.get(cluster) === member) this.leaders.delete(cluster);
      return;
    }
    const previous = this.lastRenewal.get(member);
    if (previous !== undefined && startedAt - previous > this.maxGapMs) this.late++;
    this.lastRenewal.set(member, startedAt);
  }

  acquiredBy(member: string, cluster: number, at: number): void {
    this.leaders.set(cluster, member);
    this.lastRenewal.set(member, at);
    if (this.measuring) this.acquired++;
  }
}

/** The driver with its renewals and acquisitions timed; everything else passes through. */
function timedDriver(driver: DcsDriver, member: string, cluster: number, rec: RenewalRecorder): DcsDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      if (prop === 'renewLeader') {
        return async (options?: Parameters<DcsDriver['renewLeader']>[0]) => {
          const t0 = nodeClock.now();
          let held = false;
          try {
            held = await target.renewLeader(options);
            return held;
          } finally {
            rec.renewed(member, cluster, t0, nodeClock.now() - t0, held);
          }
        };
      }
      if (prop === 'acquireLeader') {
        return async (options?: Parameters<DcsDriver['acquireLeader']>[0]) => {
          const won = await target.acquireLeader(options);
          if (won) rec.acquiredBy(member, cluster, nodeClock.now());
          return won;
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Answers peer probes from the cluster's fake PostgreSQL servers (every machine is up). */
function worldProbe(world: FakePostgresWorld, identities: MemberIdentity[]): PeerProbe {
  return {
    async probe(targets) {
      return targets.map((t): PeerStatus => {
        const id = identities.find((i) => i.apiUrl === t.apiUrl);
        const s = id ? world.server(id.name) : null;
        if (!id || !s || !s.running || s.state !== 'running') {
          return { name: t.name, reachable: false, inRecovery: true, walPosition: null, timeline: null, tags: {}, watchdogFailed: false, error: 'not running' };
        }
        return { name: t.name, reachable: true, inRecovery: s.role !== 'primary', walPosition: s.lsn, timeline: s.timeline, tags: id.tags, watchdogFailed: false };
      });
    },
  };
}

/** A running share: start it, measure windows on `recorder`, then stop it. */
export class Share {
  readonly recorder: RenewalRecorder;
  private readonly members: MemberRun[] = [];
  private readonly worlds: FakePostgresWorld[] = [];
  private shared: SharedEtcdClients | null = null;
  private replicate: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly o: ShareOptions;

  constructor(o: ShareOptions) {
    this.o = o;
    this.recorder = new RenewalRecorder(o.timing.loopWait);
  }

  get memberCount(): number {
    return this.members.length;
  }

  /** Starts every cluster of the share, batch by batch at the times the parent gave. */
  async start(): Promise<void> {
    const o = this.o;
    const section = o.store === 'etcd' ? { hosts: o.endpoints.map((e) => e.replace(/^https?:\/\//, '')) } : { hosts: o.endpoints };
    if (o.sharedConnections) this.shared = await createSharedClients(section, o.timing.retryTimeout * 1000);
    this.replicate = setInterval(() => this.worlds.forEach((w) => w.replicate()), 200);
    const began = nodeClock.now();
    for (let c = o.from, j = 0; c < o.to && !this.stopping; c += o.batch, j++) {
      const wait = began + o.batchStartMs(j) - nodeClock.now();
      if (wait > 0) await sleep(wait);
      await Promise.all(Array.from({ length: Math.min(o.batch, o.to - c) }, (_, i) => this.startCluster(c + i, section)));
    }
  }

  // Each member's driver answers one read before its loop starts (agents start at different
  // times): a batch of members opening their channels at the same instant stalls in grpc-js's
  // name resolution and every first call misses its deadline, which measures the bench, not the DCS.
  private async startCluster(c: number, section: Record<string, unknown>): Promise<void> {
    const o = this.o;
    const world = new FakePostgresWorld(nodeClock);
    this.worlds.push(world);
    const identities: MemberIdentity[] = [0, 1, 2].map((m) => ({
      name: `m${m}`,
      connUrl: `postgres://c${c}m${m}:5432/postgres`,
      apiUrl: `http://c${c}m${m}:8008/patroni`,
      tags: {},
      version: '3.0.2',
    }));
    const probe = worldProbe(world, identities);
    const logger = c === 0 ? (o.firstClusterLogger ?? silentLogger) : silentLogger;
    const bootstrapDcs = { ttl: o.timing.ttl, loop_wait: o.timing.loopWait, retry_timeout: o.timing.retryTimeout };
    const created = await Promise.all(
      identities.map(async (me) => {
        world.server(me.name);
        const options: DriverOptions = { namespace: '/service', scope: `scale-${c}`, name: me.name, ...o.timing, section, clock: nodeClock, logger };
        const raw = this.shared ? await this.shared.createDriver(options) : o.store === 'etcd' ? await createEtcdDriver(options) : await createZooKeeperDriver(options);
        await raw.load().catch(() => undefined);
        const driver = timedDriver(raw, `${c}/${me.name}`, c, this.recorder);
        const store = createClusterStore(driver, { name: me.name, logger });
        const loop = createHaLoop({ me, store, postgres: world.port(me.name), peers: probe, clock: nodeClock, logger, settings: { bootstrapDcs } });
        return { loop, driver: raw };
      }),
    );
    this.members.push(...created);
    // stop() may have run while this cluster's drivers were made: do not start loops behind it.
    if (this.stopping) {
      await Promise.all(created.map((m) => m.driver.close().catch(() => undefined)));
      return;
    }
    for (const m of created) m.loop.start();
  }

  /** What the recorder holds now, with this process's CPU since `cpuBefore`. */
  sample(cpuBefore: NodeJS.CpuUsage): WorkerSample {
    const r = this.recorder;
    const cpu = process.cpuUsage(cpuBefore);
    return {
      latencies: r.latencies,
      failed: r.failed,
      late: r.late,
      acquired: r.acquired,
      members: this.members.length,
      clustersWithLeader: r.leaders.size,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rssMb: Math.round(process.memoryUsage().rss / 1e5) / 10,
    };
  }

  /** Stops the loops, then ends every session so no key outlives the run. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.replicate) clearInterval(this.replicate);
    for (let i = 0; i < this.members.length; i += 30) {
      const batch = this.members.slice(i, i + 30);
      await Promise.all(batch.map((m) => m.loop.stop().catch(() => undefined)));
      await Promise.all(batch.map((m) => m.driver.close({ revoke: true }).catch(() => undefined)));
    }
    this.shared?.close();
  }
}
