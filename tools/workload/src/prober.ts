/**
 * A prober per member: every `intervalMs` it tries a tiny INSERT on that one member and keeps the
 * server's own clock reading of each accepted write. All members run on this machine, so their
 * `clock_timestamp()` readings share one clock and can be compared without the harness's event
 * loop delays. Consecutive accepted probes form an interval in which the member accepted writes;
 * any failed probe ends it.
 *
 * The probe commits with `synchronous_commit = local`: what is measured is whether the member
 * executes writes at all, not whether a synchronous standby confirms them, so a primary that
 * should have stepped down is caught even when its commits would wait.
 */
import type pg from 'pg';
import { connect, isReadOnlyRefusal, type PgTarget, type WorkloadMember } from './connection.js';

export const PROBE_TABLE = 'workload_probe';
/** Creates the probers' table (run on the primary before `startProber`). */
export const PROBE_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${PROBE_TABLE} (member text NOT NULL, at timestamptz NOT NULL DEFAULT now())`;

/** A stretch of time (server clock, ms) during which one member accepted every probe. */
export interface WritableInterval {
  member: string;
  from: number;
  to: number;
}

/**
 * What a member's latest probe showed: it took the write; it refused it for certain (read-only,
 * connection refused, shutting down); or it did not answer in time, which proves nothing.
 */
export type ProbeOutcome = 'accepted' | 'refused' | 'unanswered';

export interface Prober {
  /** Closed intervals plus the open one of each member, oldest first. */
  intervals(): WritableInterval[];
  /** Members whose latest probe was accepted. */
  writableNow(): string[];
  /** The member's latest probe, or null before its first one finished. */
  lastOutcome(member: string): ProbeOutcome | null;
  stop(): Promise<void>;
}

export interface ProberOptions {
  /** Time between the starts of two probes of one member, ms (default 20). */
  intervalMs?: number;
}

const TIMEOUT_MS = 1000;
// Besides a replica's read-only refusal: the server is starting up or shutting down.
const DEFINITE_REFUSALS = new Set(['57P01', '57P02', '57P03']);

function outcomeOf(e: unknown): ProbeOutcome {
  const code = (e as { code?: string } | null)?.code;
  if (isReadOnlyRefusal(e) || code === 'ECONNREFUSED' || (code !== undefined && DEFINITE_REFUSALS.has(code))) return 'refused';
  return 'unanswered';
}

/** The probe statement on an open connection; the server's clock reading of the accepted write. */
async function probeWrite(client: pg.Client, member: string): Promise<number | null> {
  const res = await client.query<{ at: Date }>(`INSERT INTO ${PROBE_TABLE} (member) VALUES ($1) RETURNING clock_timestamp() AS at`, [member]);
  return res.rows[0]?.at.getTime() ?? null;
}

/** One probe on a fresh connection: whether `target` executes a write at all right now. */
export async function acceptsWrites(target: PgTarget & { name: string }): Promise<boolean> {
  const client = connect(target, TIMEOUT_MS);
  try {
    await client.connect();
    await client.query('SET synchronous_commit = local');
    return (await probeWrite(client, target.name)) !== null;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export function startProber(members: readonly WorkloadMember[], options: ProberOptions = {}): Prober {
  const intervalMs = options.intervalMs ?? 20;
  const closed: WritableInterval[] = [];
  const open = new Map<string, WritableInterval>();
  const outcomes = new Map<string, ProbeOutcome>();
  let stopped = false;

  const probeMember = async (m: WorkloadMember): Promise<void> => {
    let client: pg.Client | null = null;
    while (!stopped) {
      const started = Date.now();
      let at: number | null = null;
      let outcome: ProbeOutcome = 'unanswered';
      try {
        if (!client) {
          client = connect(m, TIMEOUT_MS);
          await client.connect();
          await client.query('SET synchronous_commit = local');
        }
        at = await probeWrite(client, m.name);
        if (at !== null) outcome = 'accepted';
      } catch (e) {
        outcome = outcomeOf(e);
        // A replica refuses the write and keeps the connection usable; anything else may have
        // left it broken.
        if (!isReadOnlyRefusal(e)) {
          void client?.end().catch(() => {});
          client = null;
        }
      }
      outcomes.set(m.name, outcome);
      const current = open.get(m.name);
      if (at !== null) {
        if (current) current.to = at;
        else open.set(m.name, { member: m.name, from: at, to: at });
      } else if (current) {
        closed.push(current);
        open.delete(m.name);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
    }
    await client?.end().catch(() => {});
  };

  const loops = members.map((m) => probeMember(m));

  return {
    intervals: () => [...closed, ...[...open.values()].map((i) => ({ ...i }))].sort((a, b) => a.from - b.from),
    writableNow: () => [...open.keys()],
    lastOutcome: (member) => outcomes.get(member) ?? null,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** A time (server clock, ms) during which two members both accepted writes. */
export interface SplitBrainWindow {
  members: [string, string];
  from: number;
  to: number;
}

/** The intervals that touch [from, to]. */
export function intervalsWithin(intervals: readonly WritableInterval[], from = -Infinity, to = Infinity): WritableInterval[] {
  return intervals.filter((i) => i.to >= from && i.from <= to);
}

/**
 * Overlaps between the writable intervals of different members that touch [from, to]. A window
 * of length 0 (one member's single accepted probe inside another's interval) still counts.
 */
export function splitBrainWindows(intervals: readonly WritableInterval[], from = -Infinity, to = Infinity): SplitBrainWindow[] {
  const relevant = intervalsWithin(intervals, from, to);
  const windows: SplitBrainWindow[] = [];
  for (let a = 0; a < relevant.length; a++) {
    for (let b = a + 1; b < relevant.length; b++) {
      const x = relevant[a]!;
      const y = relevant[b]!;
      if (x.member === y.member) continue;
      const start = Math.max(x.from, y.from);
      const end = Math.min(x.to, y.to);
      if (start <= end) windows.push({ members: [x.member, y.member], from: start, to: end });
    }
  }
  return windows;
}
