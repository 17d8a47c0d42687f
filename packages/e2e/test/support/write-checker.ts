/**
 * Watches for split brain: in rounds, tries an INSERT on every member's PostgreSQL at the same
 * time and records which ones accepted it. Two members accepting a write in the same round means
 * two writable primaries at once — the one thing an HA agent must never allow.
 */
import type pg from 'pg';
import type { MemberHandle } from '@pgha/local-cluster';
import { PROBE_TABLE, clientFor } from './sql.js';

export interface ProbeRound {
  /** Wall-clock ms when the round started. */
  at: number;
  /** Members whose INSERT committed in this round. */
  writable: string[];
}

export interface WriteChecker {
  /** Rounds where more than one member accepted a write. */
  violations(): ProbeRound[];
  /** Rounds so far (a bounded window of the latest ones). */
  rounds(): ProbeRound[];
  /** Members that accepted a write in the latest round. */
  lastWritable(): string[];
  stop(): Promise<void>;
}

const PROBE_TIMEOUT_MS = 1000;
const KEEP_ROUNDS = 5000;

export function startWriteChecker(members: MemberHandle[], intervalMs = 100): WriteChecker {
  const clients = new Map<string, pg.Client | null>();
  const rounds: ProbeRound[] = [];
  const violations: ProbeRound[] = [];
  let stopped = false;

  // One connection per member, kept while it works (a new connection per probe would load the
  // servers and miss short windows); dropped and reopened after any error.
  const probe = async (m: MemberHandle): Promise<boolean> => {
    let client = clients.get(m.name) ?? null;
    try {
      if (!client) {
        client = clientFor(m, PROBE_TIMEOUT_MS);
        clients.set(m.name, client);
        await client.connect();
      }
      await client.query(`INSERT INTO ${PROBE_TABLE} (member) VALUES ($1)`, [m.name]);
      return true;
    } catch {
      clients.set(m.name, null);
      void client?.end().catch(() => {});
      return false;
    }
  };

  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const results = await Promise.all(members.map(async (m) => ((await probe(m)) ? m.name : null)));
      const round = { at, writable: results.filter((r): r is string => r !== null) };
      rounds.push(round);
      if (rounds.length > KEEP_ROUNDS) rounds.shift();
      if (round.writable.length > 1) violations.push(round);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();

  return {
    violations: () => [...violations],
    rounds: () => [...rounds],
    lastWritable: () => rounds.at(-1)?.writable ?? [],
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...clients.values()].map((c) => c?.end().catch(() => {})));
    },
  };
}
