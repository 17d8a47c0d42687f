/**
 * The chaos run: starts a local cluster (with a DCS proxy in front of each member, so one can be
 * partitioned), a writer and the probers, then for each round injects a fault, waits for the
 * cluster to recover and checks what happened during the round.
 */
import { startLocalCluster, type AgentKind, type ClusterTiming, type DcsKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { query } from './connection.js';
import { fault, schedule, type FaultName } from './faults.js';
import { PROBE_TABLE, splitBrainWindows, startProber, type SplitBrainWindow } from './prober.js';
import { startDcsProxy, type DcsProxy } from './proxy.js';
import { waitForRecovery } from './recovery.js';
import { ACKED_TABLE, startWriter, type AckedCommit } from './writer.js';

export interface ChaosOptions {
  rounds: number;
  faults: readonly FaultName[];
  order: 'cycle' | 'random';
  seed: number;
  dcs: DcsKind;
  agent: AgentKind;
  /** `synchronous_mode: true` in the dynamic configuration. */
  sync: boolean;
  timing: ClusterTiming;
  /** pgha members get the testing watchdog (it fences a primary whose agent hangs). */
  watchdog: boolean;
  echo: boolean;
  /** Bound on waiting for a primary after a fault, then for every member to stream again. */
  recoveryTimeoutMs: number;
  log(line: string): void;
}

export interface RoundResult {
  round: number;
  fault: FaultName;
  primaryBefore: string;
  primaryAfter: string | null;
  /** Fault start to a primary holding the lock again, ms (null: none within the bound). */
  recoveredMs: number | null;
  /** Fault start to every member streaming again, ms (null: not within the bound). */
  rejoinedMs: number | null;
  /** Fault start to the first acknowledged commit after the writes failed (or after the fault, if they never did), ms. */
  firstCommitMs: number | null;
  /** Longest time without an acknowledged commit from the fault to the end of the round, ms. */
  writeGapMs: number;
  /** Acknowledged commits found missing on the primary this round (not counted before). */
  lost: number;
  splitBrain: SplitBrainWindow[];
  /** Problems that are not violations by themselves (a fault that could not be applied, members that did not rejoin). */
  notes: string[];
}

export interface ChaosResult {
  rounds: RoundResult[];
  /** One sentence per violation; empty when the run passed. */
  violations: string[];
  ackedCommits: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The probe table never needs to grow: 50 probes a second per member for an hour is plenty, but
// the harness prunes it each round anyway so a long run stays light.
const PRUNE_PROBES = `DELETE FROM ${PROBE_TABLE} WHERE at < now() - interval '1 minute'`;

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const members = 3;
  const proxies = await Promise.all(Array.from({ length: members }, () => startDcsProxy()));
  let cluster: LocalCluster | null = null;
  try {
    cluster = await startLocalCluster({
      members,
      agent: options.agent,
      dcs: options.dcs,
      scope: 'chaos',
      timing: options.timing,
      echo: options.echo,
      // Patroni's default safety margin (5 s) leaves no watchdog timeout under a short ttl (the
      // fast profile's 4 s): there, ttl / 2, as `safety_margin: -1` gives.
      watchdog: options.watchdog && options.timing.ttl < 10 ? { safetyMargin: -1 } : options.watchdog,
      ...(options.sync ? { dynamic: { synchronous_mode: true } } : {}),
      extra: Object.fromEntries(proxies.map((p, i) => [i, dcsSection(options.dcs, options.agent, p.port)])),
    });
    const dcsPort = Number(new URL(cluster.dcs.endpoints[0]!.includes('://') ? cluster.dcs.endpoints[0]! : `tcp://${cluster.dcs.endpoints[0]!}`).port);
    for (const p of proxies) p.setTarget(dcsPort);
    return await runRounds(cluster, new Map(cluster.members.map((m, i) => [m.name, proxies[i]!])), options);
  } finally {
    await cluster?.stop();
    await Promise.all(proxies.map((p) => p.close()));
  }
}

/** The member's DCS section, pointing at its proxy. */
function dcsSection(dcs: DcsKind, agent: AgentKind, port: number): Record<string, unknown> {
  const host = `127.0.0.1:${port}`;
  if (dcs === 'zookeeper') return { zookeeper: { hosts: [host] } };
  // Patroni asks etcd for its members' addresses and would go around the proxy unless told the
  // host is a proxy; pgha uses the listed hosts only (and refuses the key).
  return { etcd3: { hosts: [host], ...(agent === 'patroni' ? { use_proxies: true } : {}) } };
}

async function runRounds(cluster: LocalCluster, proxies: Map<string, DcsProxy>, options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log;
  const bound = options.recoveryTimeoutMs;
  let recovery = await waitForRecovery(cluster, bound, bound);
  if (recovery.rejoinedAt === null) throw new Error(`the cluster did not start: ${recovery.missing.join(', ')} not streaming`);
  await query(recovery.primary, `CREATE TABLE ${ACKED_TABLE} (id bigint PRIMARY KEY, member text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  await query(recovery.primary, `CREATE TABLE ${PROBE_TABLE} (member text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  for (const m of cluster.members) {
    await waitFor(`the tables on ${m.name}`, async () => (await query(m, `SELECT 1 FROM ${PROBE_TABLE} LIMIT 1`).then(() => true)), bound);
  }
  const writer = startWriter(cluster.members);
  const prober = startProber(cluster.members);
  const results: RoundResult[] = [];
  const violations: string[] = [];
  const lostIds = new Set<number>();
  let checkedUpTo = 0;

  try {
    await waitFor('the first acknowledged commit', async () => writer.acked().length > 0, bound);
    const plan = schedule(options.faults, options.rounds, options.order, options.seed);
    for (const [i, name] of plan.entries()) {
      const primary = recovery.primary;
      // Let writes run on the healthy cluster first, so each round starts from a steady state.
      await sleep(2000);
      if (options.sync) {
        // In synchronous mode only a published synchronous standby may take over: a fault before
        // the new primary has published one would measure a cluster that, rightly, cannot fail over.
        await waitFor('a synchronous standby in the sync key', async () => {
          const res = await fetch(`${primary.apiUrl.replace(/\/patroni$/, '')}/cluster`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
          const body = (await res?.json().catch(() => null)) as { members?: { role?: string }[] } | null;
          return (body?.members ?? []).some((m) => m.role === 'sync_standby');
        }, bound).catch(() => log(`round ${i + 1}: no synchronous standby published before the fault`));
      }
      const notes: string[] = [];
      const t0 = Date.now();
      try {
        await fault(name).inject({ cluster, primary, proxies, log });
      } catch (e) {
        notes.push(`fault not applied: ${(e as Error).message}`);
      }
      // Whatever the fault left stopped comes back, as an init system would restart it.
      for (const m of cluster.members) m.start();

      let primaryAfter: MemberHandle | null = null;
      let recoveredMs: number | null = null;
      let rejoinedMs: number | null = null;
      try {
        recovery = await waitForRecovery(cluster, bound, bound);
        primaryAfter = recovery.primary;
        recoveredMs = recovery.primaryAt - t0;
        if (recovery.rejoinedAt !== null) rejoinedMs = recovery.rejoinedAt - t0;
        else notes.push(`not rejoined within ${bound / 1000} s: ${recovery.missing.join(', ')}`);
      } catch (e) {
        notes.push(`no primary within ${bound / 1000} s: ${(e as Error).message}`);
      }

      let lost = 0;
      if (primaryAfter) {
        // The writer commits on the new primary before the check, so the round's writes are in.
        const since = Date.now();
        await waitFor('a commit on the new primary', async () => writer.acked().some((c) => c.sentAt >= since), bound).catch(() => {
          notes.push('no acknowledged commit after recovery');
        });
        const missing = await missingAcked(primaryAfter, writer.acked()).catch((e: unknown) => {
          notes.push(`could not read ${ACKED_TABLE}: ${(e as Error).message}`);
          return [];
        });
        for (const id of missing) {
          if (!lostIds.has(id)) {
            lostIds.add(id);
            lost++;
          }
        }
        await query(primaryAfter, PRUNE_PROBES).catch(() => {});
      }

      const end = Date.now();
      const acked = writer.acked();
      const result: RoundResult = {
        round: i + 1,
        fault: name,
        primaryBefore: primary.name,
        primaryAfter: primaryAfter?.name ?? null,
        recoveredMs,
        rejoinedMs,
        firstCommitMs: firstCommitAfter(acked, writer.failures(), t0),
        writeGapMs: longestGap(acked, t0, end),
        lost,
        // Windows are attributed to the round in which they begin.
        splitBrain: splitBrainWindows(prober.intervals()).filter((w) => w.from > checkedUpTo && w.from <= end),
        notes,
      };
      checkedUpTo = end;
      results.push(result);
      log(formatRound(result));

      if (result.splitBrain.length > 0) violations.push(`round ${result.round} (${name}): ${result.splitBrain.length} split-brain window(s), ${windowMs(result.splitBrain)} ms`);
      if (options.sync && lost > 0) violations.push(`round ${result.round} (${name}): ${lost} acknowledged commit(s) lost in synchronous mode`);
      if (!primaryAfter) {
        violations.push(`round ${result.round} (${name}): no primary within ${bound / 1000} s; run stopped`);
        break;
      }
      if (rejoinedMs === null) violations.push(`round ${result.round} (${name}): ${recovery.missing.join(', ')} did not rejoin within ${bound / 1000} s`);
    }
  } finally {
    await prober.stop();
    await writer.stop();
  }
  return { rounds: results, violations, ackedCommits: writer.acked().length };
}

/** Ids of acknowledged commits absent from the primary's table. */
async function missingAcked(primary: MemberHandle, live: readonly AckedCommit[]): Promise<number[]> {
  // Only commits acknowledged before the query starts are certain to be in its snapshot; the
  // writer keeps appending to `live` meanwhile. Every acknowledged id is checked every round: a
  // later failover can lose an older commit.
  const acked = live.slice();
  const rows = await query<{ id: string }>(primary, `SELECT id FROM ${ACKED_TABLE}`, [], 30_000);
  const present = new Set(rows.map((r) => Number(r.id)));
  return acked.filter((c) => !present.has(c.id)).map((c) => c.id);
}

function firstCommitAfter(acked: readonly AckedCommit[], failures: readonly number[], t0: number): number | null {
  const failed = failures.find((f) => f >= t0) ?? t0;
  const c = acked.find((a) => a.sentAt >= failed);
  return c ? c.at - t0 : null;
}

function longestGap(acked: readonly AckedCommit[], from: number, to: number): number {
  let gap = 0;
  let prev = from;
  for (const c of acked) {
    if (c.at < from) {
      prev = c.at;
      continue;
    }
    if (c.at > to) break;
    gap = Math.max(gap, c.at - prev);
    prev = c.at;
  }
  return gap;
}

export function windowMs(windows: readonly SplitBrainWindow[]): number {
  return windows.reduce((sum, w) => sum + (w.to - w.from), 0);
}

const seconds = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));

export function formatRound(r: RoundResult): string {
  const sb = r.splitBrain.length === 0 ? 'none' : `${r.splitBrain.length} (${windowMs(r.splitBrain)} ms: ${r.splitBrain.map((w) => w.members.join('+')).join(', ')})`;
  return [
    `round ${String(r.round).padStart(3)} ${r.fault.padEnd(15)}`,
    `${r.primaryBefore} -> ${r.primaryAfter ?? '?'}`,
    `primary ${seconds(r.recoveredMs)} s`,
    `rejoined ${seconds(r.rejoinedMs)} s`,
    `first commit ${seconds(r.firstCommitMs)} s`,
    `write gap ${seconds(r.writeGapMs)} s`,
    `lost ${r.lost}`,
    `split-brain ${sb}`,
    ...r.notes,
  ].join(' | ');
}
