/**
 * The `history` key after a promotion: the timeline switches from the new primary's history
 * files, enriched with what the key already knew (timestamps, who was promoted).
 */
import type { TimelineHistory, TimelineHistoryEntry } from '@pgha/dcs';

/**
 * Merges the history read from `pg_wal/<tl>.history` with the key's current lines: lines the key
 * already has for the same switch keep their timestamp and new leader; the last line gets
 * `newLeader` (and `nowIso` when it has no timestamp). Keeps the last `maxLines` (0 = all).
 */
export function mergeHistory(options: {
  fromFiles: TimelineHistory;
  existing: TimelineHistory;
  newLeader: string;
  nowIso: string;
  maxLines: number;
}): TimelineHistory {
  const known = new Map(options.existing.map((e) => [`${e.timeline}/${e.lsn}`, e]));
  const lines: TimelineHistoryEntry[] = options.fromFiles.map((e) => {
    const old = known.get(`${e.timeline}/${e.lsn}`);
    const line: TimelineHistoryEntry = { timeline: e.timeline, lsn: e.lsn, reason: e.reason };
    const timestamp = old?.timestamp ?? e.timestamp;
    if (timestamp !== undefined) line.timestamp = timestamp;
    const leader = old?.new_leader ?? e.new_leader;
    if (leader !== undefined) line.new_leader = leader;
    return line;
  });
  const last = lines[lines.length - 1];
  if (last) {
    last.timestamp ??= options.nowIso;
    last.new_leader ??= options.newLeader;
  }
  return options.maxLines > 0 ? lines.slice(-options.maxLines) : lines;
}
