/**
 * Many clusters on one DCS: N simulated clusters of 3 members, each member a real HA loop
 * (`createHaLoop`) with a real DCS driver of its own (one etcd client set, or one ZooKeeper
 * session process, per member) and a fake PostgreSQL (`FakePostgresWorld` from
 * `@pgha/ha-engine/testing`), all in real time on `nodeClock`. Measures, over a window after
 * every cluster has a leader: how long each lock renewal takes (median, p99, max), renewals
 * missed (a renewal that failed, or a gap between two renewals by the same holder longer than
 * two loop_waits), leader changes, and the CPU the DCS server processes used (/proc/<pid>/stat).
 */
import { readFileSync } from 'node:fs';
import { createClusterStore, silentLogger, type DcsDriver, type DriverOptions, type Logger } from '@pgha/dcs';
import { createDriver as createEtcdDriver } from '@pgha/dcs-etcd';
import { createDriver as createZooKeeperDriver } from '@pgha/dcs-zookeeper';
import { createHaLoop, type HaLoop, type MemberIdentity, type PeerProbe, type PeerStatus } from '@pgha/ha-engine';
import { FakePostgresWorld } from '@pgha/ha-engine/testing';
import { nodeClock, sleep } from '@pgha/primitives';

export type ScaleStore = 'etcd' | 'zookeeper';

export interface ScaleOptions {
  clusters: number;
  store: ScaleStore;
  /** etcd client URLs, or ZooKeeper `host:port`s. */
  endpoints: string[];
  /** Pids of the DCS server processes, for their CPU. */
  serverPids: number[];
  /** Length of the measured window, seconds. */
  seconds: number;
  timing: { ttl: number; loopWait: number; retryTimeout: number };
  /** How long to wait for every cluster to have a leader, ms (default 60 s + 100 ms per cluster). */
  settleTimeoutMs?: number;
  log?: (message: string) => void;
  /** A logger for the drivers and loops of cluster 0 (diagnostics); default silent. */
  firstClusterLogger?: Logger;
}

export interface ScaleReport {
  store: ScaleStore;
  clusters: number;
  members: number;
  seconds: number;
  timing: ScaleOptions['timing'];
  /** Seconds from the first driver created until every cluster had a leader. */
  startupSeconds: number;
  clustersWithLeader: number;
  renewals: { count: number; medianMs: number | null; p99Ms: number | null; maxMs: number | null };
  /** Renewals that failed (rejected or lost the lock) or came more than two loop_waits after the previous one. */
  missedRenewals: { failed: number; late: number; total: number };
  /** Lock acquisitions during the window (0 when every leader kept its lock). */
  leaderChanges: number;
  /** CPU of the DCS server processes over the window: seconds, and % of one core. */
  dcsCpu: { seconds: number; percentOfOneCore: number };
  /** This process (all members' loops and drivers): CPU % of one core over the window, RSS at the end. */
  benchProcess: { cpuPercentOfOneCore: number; rssMb: number };
}

interface MemberRun {
  cluster: number;
  name: string;
  loop: HaLoop;
  driver: DcsDriver;
}

/** Per-member renewal bookkeeping, counted only inside the window. */
class RenewalRecorder {
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

/** CPU ticks (user + system) of a process, or 0 when it is gone. Linux counts 100 ticks a second. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs the clusters, measures the window, stops everything; resolves with the report. */
export async function runScale(o: ScaleOptions): Promise<ScaleReport> {
  const log = o.log ?? (() => undefined);
  const rec = new RenewalRecorder(o.timing.loopWait);
  const members: MemberRun[] = [];
  const worlds: FakePostgresWorld[] = [];
  const bootstrapDcs = { ttl: o.timing.ttl, loop_wait: o.timing.loopWait, retry_timeout: o.timing.retryTimeout };
  const section = o.store === 'etcd' ? { hosts: o.endpoints.map((e) => e.replace(/^https?:\/\//, '')) } : { hosts: o.endpoints };
  const replicate = setInterval(() => worlds.forEach((w) => w.replicate()), 200);
  const began = nodeClock.now();
  try {
    // Clusters start 10 at a time, each member's driver answering one read before its loop
    // starts (agents start at different times): 900 gRPC channels opened at the same instant
    // from one process stall in grpc-js's name resolution and every first call misses its
    // deadline, which measures the bench process, not the DCS.
    const startCluster = async (c: number): Promise<void> => {
      const world = new FakePostgresWorld(nodeClock);
      worlds.push(world);
      const identities: MemberIdentity[] = [0, 1, 2].map((m) => ({
        name: `m${m}`,
        connUrl: `postgres://c${c}m${m}:5432/postgres`,
        apiUrl: `http://c${c}m${m}:8008/patroni`,
        tags: {},
        version: '3.0.2',
      }));
      const probe = worldProbe(world, identities);
      const logger = c === 0 ? (o.firstClusterLogger ?? silentLogger) : silentLogger;
      const created = await Promise.all(
        identities.map(async (me) => {
          world.server(me.name);
          const options: DriverOptions = {
            namespace: '/service',
            scope: `scale-${c}`,
            name: me.name,
            ...o.timing,
            section,
            clock: nodeClock,
            logger,
          };
          const raw = o.store === 'etcd' ? await createEtcdDriver(options) : await createZooKeeperDriver(options);
          await raw.load().catch(() => undefined);
          const driver = timedDriver(raw, `${c}/${me.name}`, c, rec);
          const store = createClusterStore(driver, { name: me.name, logger });
          const loop = createHaLoop({ me, store, postgres: world.port(me.name), peers: probe, clock: nodeClock, logger, settings: { bootstrapDcs } });
          return { cluster: c, name: me.name, loop, driver: raw };
        }),
      );
      members.push(...created);
      for (const m of created) m.loop.start();
    };
    for (let c = 0; c < o.clusters; c += 10) {
      await Promise.all(Array.from({ length: Math.min(10, o.clusters - c) }, (_, i) => startCluster(c + i)));
      if ((c + 10) % 100 === 0) log(`${c + 10} clusters started`);
    }
    const settleBy = nodeClock.now() + (o.settleTimeoutMs ?? 60_000 + 100 * o.clusters);
    while (rec.leaders.size < o.clusters && nodeClock.now() < settleBy) await sleep(250);
    const startupSeconds = (nodeClock.now() - began) / 1000;
    log(`${rec.leaders.size} of ${o.clusters} clusters have a leader after ${startupSeconds.toFixed(1)} s; measuring ${o.seconds} s`);

    const ticks = () => o.serverPids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const dcsBefore = ticks();
    const selfBefore = process.cpuUsage();
    rec.measuring = true;
    await sleep(o.seconds * 1000);
    rec.measuring = false;
    const dcsSeconds = (ticks() - dcsBefore) / 100;
    const self = process.cpuUsage(selfBefore);
    const sorted = [...rec.latencies].sort((a, b) => a - b);
    const round = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
    return {
      store: o.store,
      clusters: o.clusters,
      members: members.length,
      seconds: o.seconds,
      timing: o.timing,
      startupSeconds: Math.round(startupSeconds * 10) / 10,
      clustersWithLeader: rec.leaders.size,
      renewals: { count: sorted.length, medianMs: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), maxMs: round(sorted[sorted.length - 1] ?? null) },
      missedRenewals: { failed: rec.failed, late: rec.late, total: rec.failed + rec.late },
      leaderChanges: rec.acquired,
      dcsCpu: { seconds: dcsSeconds, percentOfOneCore: Math.round((dcsSeconds / o.seconds) * 1000) / 10 },
      benchProcess: {
        cpuPercentOfOneCore: Math.round(((self.user + self.system) / 1e6 / o.seconds) * 1000) / 10,
        rssMb: Math.round(process.memoryUsage().rss / 1e5) / 10,
      },
    };
  } finally {
    clearInterval(replicate);
    // Stop the loops, then end every session at once so no key outlives the run.
    for (let i = 0; i < members.length; i += 30) {
      const batch = members.slice(i, i + 30);
      await Promise.all(batch.map((m) => m.loop.stop().catch(() => undefined)));
      await Promise.all(batch.map((m) => m.driver.close({ revoke: true }).catch(() => undefined)));
    }
  }
}

/** The report as a Markdown table row: `| store | N | members | renewals | median | p99 | max | missed | leader changes | DCS CPU | bench CPU |`. */
export function reportRow(r: ScaleReport): string {
  const ms = (x: number | null) => (x === null ? 'n/a' : `${x} ms`);
  return `| ${r.store} | ${r.clusters} | ${r.members} | ${r.renewals.count} | ${ms(r.renewals.medianMs)} | ${ms(r.renewals.p99Ms)} | ${ms(r.renewals.maxMs)} | ${r.missedRenewals.total} (${r.missedRenewals.failed} failed, ${r.missedRenewals.late} late) | ${r.leaderChanges} | ${r.dcsCpu.percentOfOneCore} % | ${r.benchProcess.cpuPercentOfOneCore} % |`;
}
