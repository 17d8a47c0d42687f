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

/**
 * Whether a server whose WAL ends at (`timeline`, `lsn`) can follow a primary whose timeline
 * history is `history` (its current timeline being `primaryTimeline`) without pg_rewind.
 *
 * It can when its timeline is an ancestor of (or equal to) the primary's and it has nothing past
 * the point where the primary's history left that timeline. The switch point is the end of the
 * last record both share. `lsn` is either the end of this server's last record (a replica's
 * replay position or minimum recovery point) or, with `lsnIsRecordStart`, the start of its last
 * record (a cleanly stopped primary's shutdown checkpoint): a record starting at the switch point
 * is already not on the primary's branch.
 */
export function divergence(options: {
  timeline: number;
  lsn: number;
  lsnIsRecordStart?: boolean;
  primaryTimeline: number;
  history: readonly TimelineSwitch[];
}): { diverged: boolean; reason: string } {
  const { timeline, lsn, primaryTimeline, history } = options;
  if (timeline === primaryTimeline) return { diverged: false, reason: `same timeline ${timeline}` };
  if (timeline > primaryTimeline) {
    return { diverged: true, reason: `local timeline ${timeline} is ahead of the primary's timeline ${primaryTimeline}` };
  }
  const entry = history.find((e) => e.timeline === timeline);
  if (!entry) {
    return { diverged: true, reason: `timeline ${timeline} is not in the primary's history of timeline ${primaryTimeline}` };
  }
  const past = options.lsnIsRecordStart ? lsn >= entry.lsn : lsn > entry.lsn;
  if (past) {
    return { diverged: true, reason: `local WAL on timeline ${timeline} goes past the point where the primary's history left it` };
  }
  return { diverged: false, reason: `timeline ${timeline} continues on the primary's history after the local position` };
}
