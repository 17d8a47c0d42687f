/**
 * Timeline history files (`pg_wal/0000000N.history`): one line per timeline switch,
 * `<parent tli>\t<switch LSN>\t<reason>`. The last line describes how timeline N began.
 */
import { parseLsn } from './lsn.js';

export interface TimelineSwitch {
  /** The parent timeline that ended. */
  timeline: number;
  /** Where it ended (bytes): the first WAL position of the next timeline. */
  lsn: number;
  /** The free-text reason PostgreSQL wrote (e.g. `no recovery target specified`). */
  reason: string;
}

/** The history file name for a timeline: `00000002.history`. */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** Parses a history file; comment, blank and malformed lines are skipped. */
export function parseTimelineHistory(content: string): TimelineSwitch[] {
  const entries: TimelineSwitch[] = [];
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [tli, lsnText, ...reason] = line.split(/\s+/);
    const timeline = Number(tli);
    const lsn = parseLsn(lsnText);
    if (!Number.isInteger(timeline) || timeline < 1 || lsn === null) continue;
    entries.push({ timeline, lsn, reason: reason.join(' ') });
  }
  return entries;
}
