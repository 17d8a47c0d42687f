/**
 * A prober per member: every ~20 ms it tries a tiny INSERT on that one member and keeps the
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
import type { ChaosMember } from './target.js';
import { connect } from './connection.js';

export const PROBE_TABLE = 'chaos_probe';

/** A stretch of time (server clock, ms) during which one member accepted every probe. */
export interface WritableInterval {
  member: string;
  from: number;
  to: number;
}

export interface Prober {
  /** Closed intervals plus the open one of each member, oldest first. */
  intervals(): WritableInterval[];
  /** Members whose latest probe was accepted. */
  writableNow(): string[];
  stop(): Promise<void>;
}

const INTERVAL_MS = 20;
const TIMEOUT_MS = 1000;

export function startProber(members: ChaosMember[]): Prober {
  const closed: WritableInterval[] = [];
  const open = new Map<string, WritableInterval>();
  let stopped = false;

  const probeMember = async (m: ChaosMember): Promise<void> => {
    let client: pg.Client | null = null;
    while (!stopped) {
      const started = Date.now();
      let at: number | null = null;
      try {
        if (!client) {
          client = connect(m, TIMEOUT_MS);
          await client.connect();
          await client.query('SET synchronous_commit = local');
        }
        const res = await client.query<{ at: Date }>(`INSERT INTO ${PROBE_TABLE} (member) VALUES ($1) RETURNING clock_timestamp() AS at`, [m.name]);
        at = res.rows[0]?.at.getTime() ?? null;
      } catch (e) {
        // A replica refuses the write and keeps the connection usable; anything else may have
        // left it broken.
        if ((e as { code?: string }).code !== '25006') {
          void client?.end().catch(() => {});
          client = null;
        }
      }
      const current = open.get(m.name);
      if (at !== null) {
        if (current) current.to = at;
        else open.set(m.name, { member: m.name, from: at, to: at });
      } else if (current) {
        closed.push(current);
        open.delete(m.name);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, INTERVAL_MS - (Date.now() - started))));
    }
    await client?.end().catch(() => {});
  };

  const loops = members.map((m) => probeMember(m));

  return {
    intervals: () => [...closed, ...[...open.values()].map((i) => ({ ...i }))].sort((a, b) => a.from - b.from),
    writableNow: () => [...open.keys()],
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

/**
 * Overlaps between the writable intervals of different members that touch [from, to]. A window
 * of length 0 (one member's single accepted probe inside another's interval) still counts.
 */
export function splitBrainWindows(intervals: readonly WritableInterval[], from = -Infinity, to = Infinity): SplitBrainWindow[] {
  const relevant = intervals.filter((i) => i.to >= from && i.from <= to);
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
