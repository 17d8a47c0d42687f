/**
 * What a rewind throws away. When an old primary is rewound onto a new primary's timeline, the
 * WAL it wrote after the point where the new primary's timeline forked is discarded, and with it
 * every transaction committed there — commits that may have been acknowledged to clients of an
 * asynchronous cluster. Patroni says nothing about them; pgha decodes that WAL with `pg_waldump`
 * before `pg_rewind` runs and reports the transactions and the relations they touched, so a DBA
 * knows what to look for (and can replay it from the report's WAL range, which the rewind keeps
 * in the report, not in the data directory).
 */
import { formatLsn } from './lsn.js';

/** One relation the discarded WAL wrote to: tablespace/database/relfilenode, as pg_waldump names it. */
export interface SalvagedRelation {
  /** `spcOid/dbOid/relfilenode`; `SELECT pg_filenode_relation(spc, relfilenode)` in that database names it. */
  rel: string;
  /** WAL records of committed transactions that touched it. */
  records: number;
}

export interface SalvageReport {
  /** The old primary's timeline whose tail is discarded. */
  timeline: number;
  /** Where the new primary's timeline forked from it. */
  from: string;
  /** Where the old primary's WAL ended. */
  to: string;
  /** Bytes of WAL discarded. */
  bytes: number;
  /** Transactions committed in the discarded range (null when the WAL could not be decoded). */
  transactions: number | null;
  /** Commit time of the first and last of them, as pg_waldump prints it. */
  firstCommit: string | null;
  lastCommit: string | null;
  /** Relations the committed transactions wrote to, most written first. */
  relations: SalvagedRelation[];
  /** When the report was made (ISO). */
  at: string;
  /** Why the WAL could not be decoded, if it could not. */
  error?: string;
}

const RECORD = /^rmgr: (\S+)\s.*?tx:\s+(\d+), lsn: ([0-9A-F]+\/[0-9A-F]+),.*?desc: (.*)$/i;
const COMMIT = /^COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+)/;
const BLOCK_REF = /rel (\d+\/\d+\/\d+)/g;

/**
 * Decodes `pg_waldump` output line by line (it can be long): committed transactions and the
 * relations they wrote. Pure.
 */
export class WaldumpDecoder {
  readonly #pending = new Map<string, Map<string, number>>();
  readonly #relations = new Map<string, number>();
  #transactions = 0;
  #firstCommit: string | null = null;
  #lastCommit: string | null = null;
  /** LSN of the last record seen. */
  lastLsn: string | null = null;

  line(line: string): void {
    const m = RECORD.exec(line);
    if (!m) return;
    const [, rmgr, xid, lsn, desc] = m as unknown as [string, string, string, string, string];
    this.lastLsn = lsn;
    if (xid === '0') return;
    if (rmgr === 'Transaction') {
      const commit = COMMIT.exec(desc);
      const touched = this.#pending.get(xid);
      this.#pending.delete(xid);
      if (!commit) return; // an abort: its writes are not lost data
      this.#transactions++;
      this.#firstCommit ??= commit[1]!;
      this.#lastCommit = commit[1]!;
      for (const [rel, n] of touched ?? []) this.#relations.set(rel, (this.#relations.get(rel) ?? 0) + n);
      return;
    }
    const touched = this.#pending.get(xid) ?? new Map<string, number>();
    for (const ref of line.matchAll(BLOCK_REF)) touched.set(ref[1]!, (touched.get(ref[1]!) ?? 0) + 1);
    this.#pending.set(xid, touched);
  }

  result(): Pick<SalvageReport, 'transactions' | 'firstCommit' | 'lastCommit' | 'relations'> {
    return {
      transactions: this.#transactions,
      firstCommit: this.#firstCommit,
      lastCommit: this.#lastCommit,
      relations: [...this.#relations].map(([rel, records]) => ({ rel, records })).sort((a, b) => b.records - a.records || (a.rel < b.rel ? -1 : 1)),
    };
  }
}

/** Decodes a whole `pg_waldump` output. */
export function parseWaldump(output: string): ReturnType<WaldumpDecoder['result']> {
  const decoder = new WaldumpDecoder();
  for (const line of output.split('\n')) decoder.line(line);
  return decoder.result();
}

/** The sentence logged for a report. */
export function describeSalvage(r: SalvageReport): string {
  const range = `WAL ${r.from}..${r.to} of timeline ${r.timeline} (${r.bytes} bytes)`;
  if (r.transactions === null) return `pg_rewind discards ${range}; it could not be decoded: ${r.error ?? 'unknown error'}`;
  if (r.transactions === 0) return `pg_rewind discards ${range}: no committed transactions in it`;
  const rels = r.relations.slice(0, 10).map((x) => `${x.rel} (${x.records})`).join(', ');
  return `pg_rewind discards ${range}: ${r.transactions} committed transaction(s) from ${r.firstCommit} to ${r.lastCommit} are lost; relations written: ${rels}`;
}

/** The report for a range that was found but not decoded. */
export function undecodedSalvage(timeline: number, from: number, to: number, error: string): SalvageReport {
  return { timeline, from: formatLsn(from), to: formatLsn(to), bytes: to - from, transactions: null, firstCommit: null, lastCommit: null, relations: [], at: new Date().toISOString(), error };
}
