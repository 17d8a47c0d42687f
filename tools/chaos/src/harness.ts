/**
 * The chaos run: starts a local cluster (with TCP proxies so members can be cut off from the DCS
 * and from each other) or attaches to an existing one, starts a writer and the probers, then for
 * each round injects a fault, waits for the cluster to recover and checks what happened during
 * the round.
 */
import type { AgentKind, ClusterTiming, DcsKind } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { sleep } from '@pgha/primitives';
import {
  ACKED_TABLE, ACKED_TABLE_DDL, PROBE_TABLE, PROBE_TABLE_DDL, parseLsn, query, splitBrainWindows, startProber, startWriter,
  type AckedCommit, type SplitBrainWindow,
} from '@pgha/workload';
import { attachTarget, type AttachConfig } from './attach.js';
import { FaultViolation } from './fault-timing.js';
import { fault, missingActions, schedule, type FaultName } from './faults.js';
import { startHostTarget } from './host-target.js';
import { startLocalTarget } from './local-target.js';
import { waitForRecovery } from './recovery.js';
import { hasSyncStandby, syncStandbys, type ChaosMember, type ChaosTarget, type FaultActions, type ReplicationMode } from './target.js';

export interface ChaosOptions {
  /** Rounds to run; with `minutes`, the cap. */
  rounds: number;
  /** A soak: no round starts after this many minutes from the first (the one under way finishes). */
  minutes?: number;
  faults: readonly FaultName[];
  order: 'cycle' | 'random';
  seed: number;
  dcs: DcsKind;
  /** Servers of the local cluster's DCS (default 1; 3 for the DCS-cluster faults). */
  dcsServers?: 1 | 3;
  agent: AgentKind;
  /**
   * A mixed cluster (`--mixed`): pg1 runs the other agent (Patroni 3.0.2 beside pgha, or pgha
   * beside Patroni), so faults hit both kinds as leader and as replica (docs/migration.md).
   */
  mixed?: boolean;
  /** Replication mode of the local cluster (an attached cluster's comes from its configuration). */
  mode: ReplicationMode;
  timing: ClusterTiming;
  /** pgha members get the testing watchdog (it fences a primary whose agent hangs). */
  watchdog: boolean;
  echo: boolean;
  /** Bound on waiting for a primary after a fault, then for every member to stream again. */
  recoveryTimeoutMs: number;
  /** Run against this existing cluster instead of starting one (`--attach`). */
  attach?: AttachConfig;
  /**
   * `loopback` (default): one machine, faults through TCP proxies. `namespaces`: members as hosts
   * in network namespaces on a 3-server DCS (root only; host-target.ts), with the network faults.
   */
  network?: 'loopback' | 'namespaces';
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
  /**
   * WAL bytes of acknowledged commits lost this round: the highest lost commit's position minus
   * the new primary's fork point (docs/chaos.md); 0 with nothing lost.
   */
  lostBytes: number;
  splitBrain: SplitBrainWindow[];
  /** Commits acknowledged from the end of the previous round (or the start) to the end of this one. */
  acked: number;
  /** Problems that are not violations by themselves (a fault that could not be applied, members that did not rejoin). */
  notes: string[];
}

export interface ChaosResult {
  mode: ReplicationMode;
  /** `maximum_lag_on_failover` of the cluster, bytes. */
  maximumLagOnFailover: number;
  rounds: RoundResult[];
  /** One sentence per violation; empty when the run passed. */
  violations: string[];
  ackedCommits: number;
}

// The probe table never needs to grow: 50 probes a second per member for an hour is plenty, but
// the harness prunes it each round anyway so a long run stays light.
const PRUNE_PROBES = `DELETE FROM ${PROBE_TABLE} WHERE at < now() - interval '1 minute'`;
const CLOCK_FAULTS: readonly FaultName[] = ['clock-jump', 'clock-jump-back'];

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const target = options.attach
    ? await attachTarget(options.attach, options.recoveryTimeoutMs)
    : options.network === 'namespaces'
      ? await startHostTarget({ dcs: options.dcs, agent: options.agent, mode: options.mode, timing: options.timing, echo: options.echo })
      : await startLocalTarget({
        dcs: options.dcs,
        dcsServers: options.dcsServers ?? 1,
        agent: options.agent,
        mixed: options.mixed === true,
        mode: options.mode,
        timing: options.timing,
        watchdog: options.watchdog,
        fakeTime: options.faults.some((f) => CLOCK_FAULTS.includes(f)),
        echo: options.echo,
      });
  try {
    return await runRounds(target, options);
  } finally {
    await target.close();
  }
}

/** The faults of `wanted` the target can inject; logs the others. */
export function runnableFaults(wanted: readonly FaultName[], actions: Partial<FaultActions>, log: (line: string) => void): FaultName[] {
  const runnable: FaultName[] = [];
  for (const f of wanted) {
    const missing = missingActions(f, actions);
    if (missing.length === 0) runnable.push(f);
    else log(`fault ${f} skipped: no ${missing.join(', ')} for this cluster`);
  }
  return runnable;
}

async function runRounds(target: ChaosTarget, options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log;
  const bound = options.recoveryTimeoutMs;
  const members = target.members;
  const mode = target.mode;
  const runnable = runnableFaults(options.faults, target.actions, log);
  if (runnable.length === 0) throw new Error(`none of the faults ${options.faults.join(', ')} can be injected into this cluster`);
  // Every action of a runnable fault is present (checked above).
  const act = target.actions as FaultActions;

  let recovery = await waitForRecovery(members, bound, bound);
  if (recovery.rejoinedAt === null) throw new Error(`the cluster is not whole: ${recovery.missing.join(', ')} not streaming`);
  // IF NOT EXISTS: an attached cluster may keep the tables of an earlier run.
  await query(recovery.primary, ACKED_TABLE_DDL);
  await query(recovery.primary, `TRUNCATE ${ACKED_TABLE}`);
  await query(recovery.primary, PROBE_TABLE_DDL);
  for (const m of members) {
    await waitFor(`the tables on ${m.name}`, async () => (await query(m, `SELECT 1 FROM ${ACKED_TABLE} LIMIT 1`).then(() => true)), bound);
  }
  const writer = startWriter(members);
  const prober = startProber(members);
  const results: RoundResult[] = [];
  const violations: string[] = [];
  const lostIds = new Set<number>();
  let checkedUpTo = 0;

  try {
    await waitFor('the first acknowledged commit', async () => writer.acked().length > 0, bound);
    const deadline = options.minutes === undefined ? Infinity : Date.now() + options.minutes * 60_000;
    for (let i = 0; i < options.rounds && Date.now() < deadline; i++) {
      const name = roundFault(runnable, i, options.order, options.seed);
      const primary = recovery.primary;
      // Let writes run on the healthy cluster first, so each round starts from a steady state.
      await sleep(2000);
      if (mode !== 'async') {
        // In synchronous mode only a published synchronous standby may take over: a fault before
        // the new primary has published one would measure a cluster that, rightly, cannot fail over.
        await waitFor('a synchronous standby in the sync key', () => hasSyncStandby(primary), bound).catch(() =>
          log(`round ${i + 1}: no synchronous standby published before the fault`),
        );
      }
      const notes: string[] = [];
      const eligible = mode !== 'async' && fault(name).promotesFromSyncKey ? await syncStandbys(primary) : null;
      const t0 = Date.now();
      try {
        await fault(name).inject({ members, timing: target.timing, act, primary, log });
      } catch (e) {
        if (e instanceof FaultViolation) {
          violations.push(`round ${i + 1} (${name}): ${e.message}`);
          notes.push(`violation: ${e.message}`);
        } else notes.push(`fault not applied: ${(e as Error).message}`);
      }
      // Whatever the fault left stopped comes back, as an init system would restart it.
      await target.restartStopped().catch((e: unknown) => notes.push(`restart: ${(e as Error).message}`));

      let primaryAfter: ChaosMember | null = null;
      let recoveredMs: number | null = null;
      let rejoinedMs: number | null = null;
      try {
        recovery = await waitForRecovery(members, bound, bound);
        primaryAfter = recovery.primary;
        recoveredMs = recovery.primaryAt - t0;
        if (recovery.rejoinedAt !== null) rejoinedMs = recovery.rejoinedAt - t0;
        else notes.push(`not rejoined within ${bound / 1000} s: ${recovery.missing.join(', ')}`);
      } catch (e) {
        notes.push(`no primary within ${bound / 1000} s: ${(e as Error).message}`);
      }

      let lost = 0;
      let lostBytes = 0;
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
        const newlyLost = missing.filter((c) => !lostIds.has(c.id));
        for (const c of newlyLost) lostIds.add(c.id);
        lost = newlyLost.length;
        if (lost > 0) {
          const loss = await lostWal(primaryAfter, newlyLost).catch((e: unknown) => {
            notes.push(`fork point unknown: ${(e as Error).message}`);
            return null;
          });
          if (loss) {
            lostBytes = loss.bytes;
            if (loss.note) notes.push(loss.note);
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
        lostBytes,
        // Windows are attributed to the round in which they begin.
        splitBrain: splitBrainWindows(prober.intervals()).filter((w) => w.from > checkedUpTo && w.from <= end),
        acked: acked.filter((c) => c.at > checkedUpTo && c.at <= end).length,
        notes,
      };
      checkedUpTo = end;
      results.push(result);
      log(formatRound(result));

      if (result.splitBrain.length > 0) violations.push(`round ${result.round} (${name}): ${result.splitBrain.length} split-brain window(s), ${windowMs(result.splitBrain)} ms`);
      if (mode !== 'async' && lost > 0) violations.push(`round ${result.round} (${name}): ${lost} acknowledged commit(s) lost in synchronous mode ${mode}`);
      if (mode === 'async' && lostBytes > target.maximumLagOnFailover) {
        violations.push(`round ${result.round} (${name}): ${lostBytes} bytes of acknowledged commits lost, more than maximum_lag_on_failover (${target.maximumLagOnFailover})`);
      }
      if (eligible && primaryAfter && primaryAfter !== primary && !eligible.includes(primaryAfter.name)) {
        violations.push(`round ${result.round} (${name}): ${primaryAfter.name} promoted, but the sync key named ${eligible.join(', ') || 'nobody'} when ${primary.name} went down (mode ${mode})`);
      }
      if (primaryAfter && primaryAfter !== primary && fault(name).expectSamePrimary) {
        violations.push(`round ${result.round} (${name}): false failover, ${primary.name} -> ${primaryAfter.name} (the fault must not move the leader lock)`);
      }
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
  return { mode, maximumLagOnFailover: target.maximumLagOnFailover, rounds: results, violations, ackedCommits: writer.acked().length };
}

/**
 * The fault of round `i` (0-based): what `schedule` gives for that round, without building the
 * plan up front, since a soak has no round count.
 */
export function roundFault(list: readonly FaultName[], i: number, order: 'cycle' | 'random', seed: number): FaultName {
  return order === 'cycle' ? list[i % list.length]! : schedule(list, i + 1, order, seed)[i]!;
}

/**
 * How much acknowledged WAL a failover threw away: from the new primary's fork point (where its
 * timeline left the one the lost commits were on, from its timeline history) to the highest lost
 * commit's position. The fork point is the latest switch point at or below the lowest lost
 * commit; without a history (no promotion) the lowest lost commit stands in for it.
 */
export async function lostWal(primary: ChaosMember, lost: readonly AckedCommit[]): Promise<{ bytes: number; note: string | null }> {
  const lowest = Math.min(...lost.map((c) => c.lsn));
  const highest = Math.max(...lost.map((c) => c.lsn));
  const [row] = await query<{ file: string }>(primary, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS file');
  const timeline = parseInt(row?.file.slice(0, 8) ?? '1', 16);
  const switchPoints: number[] = [];
  if (timeline > 1) {
    const name = `pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
    const [history] = await query<{ text: string }>(primary, 'SELECT pg_read_file($1) AS text', [name]);
    switchPoints.push(...parseHistory(history?.text ?? ''));
  }
  const fork = Math.max(-1, ...switchPoints.filter((p) => p <= lowest));
  if (fork < 0) return { bytes: highest - lowest, note: 'no fork point below the lost commits; loss counted from the lowest lost commit' };
  return { bytes: highest - fork, note: null };
}

/** The switch points of a timeline history file (`<parent tli> <lsn> <reason>` per line). */
export function parseHistory(text: string): number[] {
  const points: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\d+\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (m) points.push(parseLsn(m[1]!));
  }
  return points;
}

/** Acknowledged commits absent from the primary's table. */
async function missingAcked(primary: ChaosMember, live: readonly AckedCommit[]): Promise<AckedCommit[]> {
  // Only commits acknowledged before the query starts are certain to be in its snapshot; the
  // writer keeps appending to `live` meanwhile. Every acknowledged id is checked every round: a
  // later failover can lose an older commit.
  const acked = live.slice();
  const rows = await query<{ id: string }>(primary, `SELECT id FROM ${ACKED_TABLE}`, [], 30_000);
  const present = new Set(rows.map((r) => Number(r.id)));
  return acked.filter((c) => !present.has(c.id));
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
    `round ${String(r.round).padStart(3)} ${r.fault.padEnd(18)}`,
    `${r.primaryBefore} -> ${r.primaryAfter ?? '?'}`,
    `primary ${seconds(r.recoveredMs)} s`,
    `rejoined ${seconds(r.rejoinedMs)} s`,
    `first commit ${seconds(r.firstCommitMs)} s`,
    `write gap ${seconds(r.writeGapMs)} s`,
    `lost ${r.lost}${r.lost > 0 ? ` (${r.lostBytes} bytes)` : ''}`,
    `split-brain ${sb}`,
    ...r.notes,
  ].join(' | ');
}
