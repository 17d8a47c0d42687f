/** The table printed at the end of a run: one row per fault, then the totals. */
import { fault } from './faults.js';
import { windowMs, type ChaosResult, type RoundResult } from './harness.js';

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const seconds = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));
const known = (values: (number | null)[]) => values.filter((v): v is number => v !== null);

/**
 * Leader changes in rounds of a fault that must not move the lock (`expectSamePrimary`, e.g.
 * agent-freeze-short: a pause shorter than ttl); null when none of the rounds is such a fault.
 */
export function falseFailovers(rounds: readonly RoundResult[]): number | null {
  const bound = rounds.filter((r) => fault(r.fault).expectSamePrimary === true);
  if (bound.length === 0) return null;
  return bound.filter((r) => r.primaryAfter !== null && r.primaryAfter !== r.primaryBefore).length;
}

function row(label: string, rounds: RoundResult[]): string[] {
  const falses = falseFailovers(rounds);
  const recovered = known(rounds.map((r) => r.recoveredMs));
  const rejoined = known(rounds.map((r) => r.rejoinedMs));
  const first = known(rounds.map((r) => r.firstCommitMs));
  const gaps = rounds.map((r) => r.writeGapMs);
  const windows = rounds.flatMap((r) => r.splitBrain);
  return [
    label,
    String(rounds.length),
    `${recovered.length}/${rounds.length}`,
    String(rounds.filter((r) => r.primaryAfter !== null && r.primaryAfter !== r.primaryBefore).length),
    falses === null ? '-' : String(falses),
    seconds(median(recovered)),
    seconds(recovered.length ? Math.max(...recovered) : null),
    `${rejoined.length}/${rounds.length}`,
    seconds(median(rejoined)),
    seconds(rejoined.length ? Math.max(...rejoined) : null),
    seconds(median(first)),
    seconds(first.length ? Math.max(...first) : null),
    seconds(median(gaps)),
    seconds(gaps.length ? Math.max(...gaps) : null),
    String(rounds.reduce((n, r) => n + r.acked, 0)),
    String(rounds.reduce((n, r) => n + r.lost, 0)),
    String(Math.max(0, ...rounds.map((r) => r.lostBytes))),
    `${windows.length} (${windowMs(windows)} ms)`,
  ];
}

/** A Markdown table (it reads as plain text too). Times in seconds; medians unless marked max. */
export function formatSummary(result: ChaosResult): string {
  const header = ['fault', 'rounds', 'recovered', 'failovers', 'false failovers', 'primary s (med)', 'primary s (max)', 'rejoined', 'rejoined s (med)', 'rejoined s (max)', 'first commit s (med)', 'first commit s (max)', 'write gap s (med)', 'write gap s (max)', 'acked', 'lost acked', 'max loss bytes', 'split-brain windows'];
  const byFault = new Map<string, RoundResult[]>();
  for (const r of result.rounds) byFault.set(r.fault, [...(byFault.get(r.fault) ?? []), r]);
  const rows = [...[...byFault.entries()].map(([fault, rounds]) => row(fault, rounds)), row('all', result.rounds)];
  const windows = result.rounds.flatMap((r) => r.splitBrain);
  const mode = [
    result.mode,
    String(result.rounds.length),
    String(result.ackedCommits),
    String(result.rounds.reduce((n, r) => n + r.lost, 0)),
    String(Math.max(0, ...result.rounds.map((r) => r.lostBytes))),
    result.mode === 'async' ? String(result.maximumLagOnFailover) : '0 lost',
    `${windows.length} (${windowMs(windows)} ms)`,
  ];
  return `${table(header, rows)}\n\n${table(['mode', 'rounds', 'acked', 'lost', 'max loss bytes per failover', 'allowed', 'split-brain windows'], [mode])}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
