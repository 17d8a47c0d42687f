/**
 * A client that keeps inserting, one row at a time, on whichever member is the primary: it keeps
 * a connection to the member that last accepted a write and, when that fails, tries the members
 * in turn until one accepts. The commit times it records give the write gaps of a scenario.
 */
import pg from 'pg';
import { SUPERUSER, type MemberHandle } from '@pgha/local-cluster';

export const WRITES_TABLE = 'bench_writes';

export interface Commit {
  /** Wall-clock ms when the INSERT was sent. */
  sentAt: number;
  /** Wall-clock ms when it committed. */
  at: number;
  member: string;
}

export interface Writer {
  commits(): readonly Commit[];
  /** Wall-clock ms of the first failed write at or after `from`, if any. */
  firstFailureAfter(from: number): number | undefined;
  /** When writes resumed after the disruption at `from`: the first commit after the first failure. */
  recoveredAfter(from: number): Commit | undefined;
  /** Longest time between two consecutive commits whose send times fall in [from, to]. */
  maxGap(from: number, to: number): number;
  /** The first commit sent at or after `from`, if any. */
  firstCommitSentAfter(from: number): Commit | undefined;
  stop(): Promise<void>;
}

const TIMEOUT_MS = 1000;
const PAUSE_MS = 10;

export function startWriter(members: MemberHandle[]): Writer {
  const commits: Commit[] = [];
  const failures: number[] = [];
  let stopped = false;
  let index = 0;
  let client: pg.Client | null = null;

  const open = async (m: MemberHandle): Promise<pg.Client> => {
    const c = new pg.Client({
      host: '127.0.0.1', port: m.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres',
      connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS, statement_timeout: TIMEOUT_MS,
    });
    c.on('error', () => {});
    await c.connect();
    return c;
  };

  const loop = (async () => {
    while (!stopped) {
      const m = members[index]!;
      const sentAt = Date.now();
      try {
        client ??= await open(m);
        await client.query(`INSERT INTO ${WRITES_TABLE} (member) VALUES ($1)`, [m.name]);
        commits.push({ sentAt, at: Date.now(), member: m.name });
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      } catch {
        failures.push(Date.now());
        void client?.end().catch(() => {});
        client = null;
        index = (index + 1) % members.length;
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      }
    }
  })();

  return {
    commits: () => commits,
    maxGap(from, to) {
      let gap = 0;
      let prev: number | null = null;
      for (const c of commits) {
        if (c.sentAt < from) {
          prev = c.at;
          continue;
        }
        if (c.sentAt > to) break;
        if (prev !== null) gap = Math.max(gap, c.at - prev);
        prev = c.at;
      }
      return gap;
    },
    firstCommitSentAfter: (from) => commits.find((c) => c.sentAt >= from),
    firstFailureAfter: (from) => failures.find((f) => f >= from),
    recoveredAfter(from) {
      // A backend can outlive a killed postmaster for a moment; only a commit after the first
      // failure shows the service is back.
      const failed = failures.find((f) => f >= from);
      return failed === undefined ? undefined : commits.find((c) => c.sentAt >= failed);
    },
    async stop() {
      stopped = true;
      await loop;
      await client?.end().catch(() => {});
    },
  };
}
