/**
 * The writer: inserts rows with ids it numbers itself, one at a time, on whichever member is the
 * primary, and records each commit the server acknowledged. It keeps a connection to every member;
 * when a write fails it tries them all at once until one accepts. A connection opened while its
 * server was a replica can write as soon as that server is promoted, so its gaps measure how long
 * the cluster had no writable primary rather than how long a client takes to reconnect.
 *
 * A write whose outcome is unknown (timeout, connection lost mid-commit) is not acknowledged: it
 * may or may not be on the primary, and neither is a violation.
 */
import type pg from 'pg';
import { parseLsn as readLsn } from '@pgha/primitives';
import { connect, isReadOnlyRefusal, type WorkloadMember } from './connection.js';

export const ACKED_TABLE = 'workload_acked';
/** Creates the writer's table (run on the primary before `startWriter`; the writer gives the ids). */
export const ACKED_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${ACKED_TABLE} (id bigint PRIMARY KEY, member text NOT NULL, at timestamptz NOT NULL DEFAULT now())`;

export interface AckedCommit {
  id: number;
  member: string;
  /** Wall-clock ms when the INSERT was sent. */
  sentAt: number;
  /** Wall-clock ms when its commit was acknowledged. */
  at: number;
  /**
   * WAL insert position right after the row's WAL record (bytes): its commit record follows within
   * a few hundred bytes. Positions go on across timelines, so they compare with a fork point.
   */
  lsn: number;
}

/** `X/Y` (PostgreSQL's pg_lsn text) as a byte position; throws on anything else (a query's answer is always one). */
export function parseLsn(text: string): number {
  const bytes = readLsn(text);
  if (bytes === null) throw new Error(`not an LSN: "${text}"`);
  return bytes;
}

export interface Writer {
  /** Acknowledged commits, in order. */
  acked(): readonly AckedCommit[];
  /** Wall-clock ms of write failures (the writer then looks for a new primary). */
  failures(): readonly number[];
  stop(): Promise<void>;
}

export interface WriterOptions {
  /**
   * Client deadline of a connection and of one INSERT, ms. A frozen member holds a search for the
   * primary up to this long, so it bounds how soon a promotion is seen. Default 2000: longer than
   * a commit waiting a moment for a synchronous standby, short enough that a dead primary is
   * given up on quickly.
   */
  timeoutMs?: number;
}

const PAUSE_MS = 10;

export function startWriter(members: readonly WorkloadMember[], options: WriterOptions = {}): Writer {
  const timeoutMs = options.timeoutMs ?? 2000;
  const acked: AckedCommit[] = [];
  const failures: number[] = [];
  const clients = new Map<string, pg.Client>();
  const connecting = new Map<string, Promise<pg.Client>>();
  let nextId = 1;
  let stopped = false;
  let current: WorkloadMember | null = null;

  const connection = (m: WorkloadMember): Promise<pg.Client> => {
    const open = clients.get(m.name);
    if (open) return Promise.resolve(open);
    let pending = connecting.get(m.name);
    if (!pending) {
      const c = connect(m, timeoutMs);
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
  const drop = (m: WorkloadMember, c: pg.Client) => {
    if (clients.get(m.name) === c) clients.delete(m.name);
    void c.end().catch(() => {});
  };

  const insert = async (m: WorkloadMember): Promise<boolean> => {
    const id = nextId++;
    const sentAt = Date.now();
    let c: pg.Client | undefined;
    try {
      c = await connection(m);
      // The position is read in the same statement, so it belongs to this very commit.
      const res = await c.query<{ lsn: string }>(`INSERT INTO ${ACKED_TABLE} (id, member) VALUES ($1, $2) RETURNING pg_current_wal_insert_lsn()::text AS lsn`, [id, m.name]);
      acked.push({ id, member: m.name, sentAt, at: Date.now(), lsn: parseLsn(res.rows[0]?.lsn ?? '0/0') });
      return true;
    } catch (e) {
      if (c && !isReadOnlyRefusal(e)) drop(m, c);
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
      // Every member at once: a frozen or dead one must not hold the others up.
      current = await new Promise<WorkloadMember | null>((resolve) => {
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
    acked: () => acked,
    failures: () => failures,
    async stop() {
      stopped = true;
      await loop;
      await Promise.allSettled([...connecting.values()]);
      await Promise.all([...clients.values()].map((c) => c.end().catch(() => {})));
    },
  };
}
