/**
 * Many clusters on one DCS: N simulated clusters of 3 members spread over K worker processes
 * (`scale-worker.ts`, forked here; a cluster's 3 members are in one worker), each member a real
 * HA loop with a real DCS driver and a fake PostgreSQL (`scale-members.ts`). Once every cluster
 * has a leader, all workers measure the same window; their samples are merged here
 * (`scale-merge.ts`): lock-renewal latency (median, p99, max of all renewals), renewals missed
 * (a renewal that failed, or a gap between two renewals by the same holder longer than two
 * loop_waits), leader changes, and the CPU the DCS server processes used (/proc/<pid>/stat).
 *
 * Startup is staggered: clusters start in batches at `startRate` clusters a second over all
 * workers (their batches interleaved), so 3,000 members do not connect in the same second.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeClock, sleep } from '@pgha/primitives';
import { mergeSamples, shareOf, type MergedFigures, type WorkerSample } from './scale-merge.js';
import type { ScaleStore } from './scale-members.js';
import type { FromWorker, ShareSpec, ToWorker } from './scale-worker.js';

export type { ScaleStore } from './scale-members.js';

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
  /** Worker processes (at most one per cluster). */
  workers: number;
  /** etcd only: the members of a worker share one client per endpoint (real agents each have their own). */
  sharedConnections?: boolean;
  /** Clusters started per second over all workers (default 25). */
  startRate?: number;
  /** How long to wait for every cluster to have a leader, ms (default 60 s + 100 ms per cluster + the stagger). */
  settleTimeoutMs?: number;
  log?: (message: string) => void;
  /** Cluster 0's drivers and loops log to stderr. */
  debug?: boolean;
}

export type Connections = 'per-member' | 'shared-per-worker';

/** The figures merged from every worker's samples (scale-merge.ts), as the report gives them. */
type MergedPart = Pick<MergedFigures, 'clustersWithLeader' | 'renewals' | 'missedRenewals' | 'leaderChanges'>;

export interface ScaleReport extends MergedPart {
  store: ScaleStore;
  clusters: number;
  members: number;
  seconds: number;
  timing: ScaleOptions['timing'];
  workers: number;
  /** per-member: each member's driver its own etcd clients (as real agents); shared-per-worker: one client per endpoint per worker. */
  connections: Connections;
  startRate: number;
  /** Seconds from the first worker forked until every cluster had a leader. */
  startupSeconds: number;
  /** CPU of the DCS server processes over the window: seconds, and % of one core. */
  dcsCpu: { seconds: number; percentOfOneCore: number };
  /** The worker processes (all members' loops and drivers): CPU % of one core over the window, RSS at its end; summed, and per worker. */
  benchProcess: { cpuPercentOfOneCore: number; rssMb: number; perWorker: { members: number; cpuPercentOfOneCore: number; rssMb: number }[] };
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

/** Clusters per batch: small enough that a batch's channels open at a pace the client keeps up with. */
const BATCH = 5;
const percentOfCore = (cpuSeconds: number, seconds: number) => Math.round((cpuSeconds / seconds) * 1000) / 10;

/** One forked worker: its messages as a queue the parent waits on. */
class Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  leaders = 0;
  private readonly waiting: { type: FromWorker['type']; resolve: (m: FromWorker) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  constructor(index: number) {
    // The workers run the same TypeScript as this process: under tsx (the `scale` script) they
    // inherit its loader; elsewhere (vitest) they get it.
    const execArgv = process.execArgv.some((a) => a.includes('/tsx/dist/')) ? process.execArgv : ['--import', 'tsx', '--conditions=@pgha/source'];
    this.child = fork(fileURLToPath(new URL('./scale-worker.ts', import.meta.url)), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromWorker) => {
      if (m.type === 'leaders') this.leaders = m.count;
      if (m.type === 'failed') return this.fail(new Error(`scale worker ${index}: ${m.message}`));
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', () => resolve()));
    // Rejects only what is still awaited: after `stopped`, nothing is.
    this.child.on('exit', (code, signal) => this.fail(new Error(`scale worker ${index} exited (${signal ?? code})`)));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  send(m: ToWorker): void {
    if (this.child.connected) this.child.send(m);
  }

  /** The next message of `type` (rejects if the worker fails first). */
  next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ type, resolve: resolve as (m: FromWorker) => void, reject }));
  }
}

/** Runs the clusters on the workers, measures the window, stops everything; resolves with the report. */
export async function runScale(o: ScaleOptions): Promise<ScaleReport> {
  const log = o.log ?? (() => undefined);
  const k = Math.max(1, Math.min(o.workers, o.clusters));
  const sharedConnections = o.sharedConnections ?? false;
  if (sharedConnections && o.store !== 'etcd') throw new Error('shared connections: etcd only (each ZooKeeper member is its own session process)');
  const startRate = o.startRate ?? 25;
  // Worker w's batch j starts at (j·k + w) batches' worth of the rate: the workers take turns.
  const batchEveryMs = (k * BATCH * 1000) / startRate;
  const rampMs = (o.clusters / startRate) * 1000;
  const began = nodeClock.now();
  const workers = Array.from({ length: k }, (_, w) => new Worker(w));
  try {
    const started = workers.map((worker, w) => {
      const { from, to } = shareOf(o.clusters, k, w);
      const share: ShareSpec = { from, to, store: o.store, endpoints: o.endpoints, timing: o.timing, sharedConnections, batch: BATCH, firstBatchMs: (w * BATCH * 1000) / startRate, batchEveryMs, debug: (o.debug ?? false) && from === 0 };
      const done = worker.next('started');
      worker.send({ type: 'start', share });
      return done;
    });
    const total = () => workers.reduce((sum, w) => sum + w.leaders, 0);
    const settleBy = began + (o.settleTimeoutMs ?? 60_000 + 100 * o.clusters + rampMs);
    let allStarted = false;
    const startedAll = Promise.all(started).then((m) => {
      allStarted = true;
      return m;
    });
    startedAll.catch(() => undefined);
    let logged = 0;
    while ((!allStarted || total() < o.clusters) && nodeClock.now() < settleBy) {
      await (allStarted ? sleep(250) : Promise.race([sleep(250), startedAll]));
      if (total() - logged >= 100) log(`${(logged = total())} clusters have a leader`);
    }
    const members = (await startedAll).reduce((sum, m) => sum + m.members, 0);
    const startupSeconds = (nodeClock.now() - began) / 1000;
    log(`${total()} of ${o.clusters} clusters (${members} members, ${k} workers, connections ${sharedConnections ? 'shared per worker' : 'per member'}) have a leader after ${startupSeconds.toFixed(1)} s; measuring ${o.seconds} s`);

    const ticks = () => o.serverPids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const dcsBefore = ticks();
    for (const w of workers) w.send({ type: 'measure' });
    await sleep(o.seconds * 1000);
    const samples: WorkerSample[] = await Promise.all(
      workers.map((w) => {
        const s = w.next('sample');
        w.send({ type: 'sample' });
        return s.then((m) => m.sample);
      }),
    );
    const dcsSeconds = (ticks() - dcsBefore) / 100;
    const merged = mergeSamples(samples);
    return {
      store: o.store,
      clusters: o.clusters,
      members: merged.members,
      seconds: o.seconds,
      timing: o.timing,
      workers: k,
      connections: sharedConnections ? 'shared-per-worker' : 'per-member',
      startRate,
      startupSeconds: Math.round(startupSeconds * 10) / 10,
      clustersWithLeader: merged.clustersWithLeader,
      renewals: merged.renewals,
      missedRenewals: merged.missedRenewals,
      leaderChanges: merged.leaderChanges,
      dcsCpu: { seconds: dcsSeconds, percentOfOneCore: percentOfCore(dcsSeconds, o.seconds) },
      benchProcess: {
        cpuPercentOfOneCore: percentOfCore(merged.workers.cpuSeconds, o.seconds),
        rssMb: merged.workers.rssMb,
        perWorker: samples.map((s) => ({ members: s.members, cpuPercentOfOneCore: percentOfCore(s.cpuSeconds, o.seconds), rssMb: s.rssMb })),
      },
    };
  } finally {
    await Promise.all(
      workers.map(async (w) => {
        const stopped = w.next('stopped').catch(() => undefined);
        w.send({ type: 'stop' });
        // A worker that cannot end its sessions in time is killed; its keys expire after ttl.
        await Promise.race([stopped.then(() => Promise.race([w.exited, sleep(5000)])), sleep(30_000 + 50 * o.clusters)]);
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      }),
    );
  }
}

/** The report as a Markdown table row: `| store | N | members | workers / connections | renewals | median | p99 | max | missed | leader changes | DCS CPU | bench CPU |`. */
export function reportRow(r: ScaleReport): string {
  const ms = (x: number | null) => (x === null ? 'n/a' : `${x} ms`);
  return `| ${r.store} | ${r.clusters} | ${r.members} | ${r.workers} / ${r.connections} | ${r.renewals.count} | ${ms(r.renewals.medianMs)} | ${ms(r.renewals.p99Ms)} | ${ms(r.renewals.maxMs)} | ${r.missedRenewals.total} (${r.missedRenewals.failed} failed, ${r.missedRenewals.late} late) | ${r.leaderChanges} | ${r.dcsCpu.percentOfOneCore} % | ${r.benchProcess.cpuPercentOfOneCore} % |`;
}
