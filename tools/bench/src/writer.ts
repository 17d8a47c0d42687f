/**
 * A client that keeps inserting, one row at a time, on whichever member is the primary. It holds
 * a connection to every member. While the member that took the last write keeps taking them, it
 * writes there; when a write fails it tries every member at once, every 10 ms, until one accepts.
 * A connection opened while its server was a replica can write as soon as that server is
 * promoted, so the commit times measure how long the cluster had no writable primary, not how
 * long a client takes to reconnect. Both agents are measured with this same client.
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
  let current: MemberHandle | null = null;
  const clients = new Map<string, pg.Client>();
  const connecting = new Map<string, Promise<pg.Client>>();

  const connection = (m: MemberHandle): Promise<pg.Client> => {
    const open = clients.get(m.name);
    if (open) return Promise.resolve(open);
    let pending = connecting.get(m.name);
    if (!pending) {
      const c = new pg.Client({
        host: '127.0.0.1', port: m.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres',
        connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS, statement_timeout: TIMEOUT_MS,
      });
      c.on('error', () => drop(m, c));
      c.on('end', () => drop(m, c));
      pending = c.connect().then(
        () => {
          clients.set(m.name, c);
          return c;
        },
        (e: unknown) => {
          void c.end().catch(() => {});
          throw e;
        },
      );
      const clear = () => connecting.delete(m.name);
      pending.then(clear, clear);
      connecting.set(m.name, pending);
    }
    return pending;
  };
  const drop = (m: MemberHandle, c: pg.Client) => {
    if (clients.get(m.name) === c) clients.delete(m.name);
    void c.end().catch(() => {});
  };

  /** One INSERT on `m`; records the commit and returns true, or drops a broken connection. */
  const insert = async (m: MemberHandle): Promise<boolean> => {
    const sentAt = Date.now();
    let c: pg.Client | undefined;
    try {
      c = await connection(m);
      await c.query(`INSERT INTO ${WRITES_TABLE} (member) VALUES ($1)`, [m.name]);
      commits.push({ sentAt, at: Date.now(), member: m.name });
      return true;
    } catch (e) {
      // A read-only replica answers with SQLSTATE 25006 and its connection stays usable.
      if (c && (e as { code?: string }).code !== '25006') drop(m, c);
      return false;
    }
  };

  const pause = () => new Promise((r) => setTimeout(r, PAUSE_MS));
  const loop = (async () => {
    while (!stopped) {
      if (current && (await insert(current))) {
        await pause();
        continue;
      }
      if (current) failures.push(Date.now());
      // Hunt: every member at once; the first to take the write is the primary. A member that
      // does not answer (a frozen or dead node) must not hold the others up.
      current = await new Promise<MemberHandle | null>((resolve) => {
        let left = members.length;
        for (const m of members) {
          void insert(m).then((ok) => {
            if (ok) resolve(m);
            else if (--left === 0) resolve(null);
          });
        }
      });
      if (!current) await pause();
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
      await Promise.allSettled([...connecting.values()]);
      await Promise.all([...clients.values()].map((c) => c.end().catch(() => {})));
    },
  };
}
