/**
 * Replay lag in time, for `maximum_lag_on_failover` given as a duration (`10s`).
 *
 * Two machines' wall clocks are never compared. While another member leads, a replica's engine
 * notes on its own monotonic clock each new position the leader publishes (the `status` optime,
 * the position the byte check compares with) and when it first saw it, and when its own replayed
 * position was last at or beyond the position published then. At decision time its lag is the
 * time the leader's position last changed minus the newest moment it is known to hold everything
 * published by then: the last caught-up time, or, when it is behind but has replayed past a
 * position remembered in the list, when that position was seen. The second keeps the lag bounded
 * for a replica that is steadily a little behind a busy leader and so never exactly caught up.
 *
 * 0 when caught up. A replica never seen caught up since tracking began is counted from the first
 * observation (a lower bound: the agent cannot know what came before its start).
 */
import type { Cluster } from '@pgha/dcs';
import type { LocalPostgresState } from './snapshot.js';

/** What the engine remembers between cycles (monotonic ms, positions in bytes). */
export interface ReplayLagMemory {
  /** Positions the leader published, oldest first, each with when it was first seen; the last is the current one. */
  published: { lsn: number; seenAt: number }[];
  /** When our replayed position was last at or beyond the published one (or first observed). */
  caughtUpAt: number;
}

/** Published positions older than the limit plus this are of no use to the decision. */
const HISTORY_MARGIN_MS = 60_000;
/** And never more than this many (one per change of the published position, so per cycle). */
const HISTORY_MAX = 256;

/** Our replayed position: replay LSN of a running replica; the position we hold otherwise. */
function replayedPosition(local: LocalPostgresState): number | null {
  if (local.unknown !== undefined) return null;
  if (local.running && local.role === 'replica') return local.replayedLsn ?? local.lsn;
  return local.lsn;
}

/**
 * The memory after this cycle's observation. Nothing is tracked without a time limit or while we
 * lead; while the lock is free the leader's position stands still, but catching up with it
 * still counts.
 */
export function observeReplayLag(
  previous: ReplayLagMemory | null | undefined,
  input: { cluster: Cluster; local: LocalPostgresState; me: string; now: number; limitSeconds: number | null },
): ReplayLagMemory | null {
  const { cluster, local, me, now, limitSeconds } = input;
  const leader = cluster.leader?.name ?? null;
  if (limitSeconds === null || leader === me) return null;
  const prev = previous ?? null;
  // The position the byte check compares with (candidate.ts `lastKnownPrimaryLsn`).
  const published = cluster.status?.value.optime ?? 0;
  const replayed = replayedPosition(local);
  const current = prev?.published[prev.published.length - 1];
  if (leader === null || published === 0) {
    if (prev && current && replayed !== null && replayed >= current.lsn) return { ...prev, caughtUpAt: now };
    return prev;
  }
  if (!prev || !current) return { published: [{ lsn: published, seenAt: now }], caughtUpAt: now };
  let history = published !== current.lsn ? [...prev.published, { lsn: published, seenAt: now }] : prev.published;
  const horizon = now - limitSeconds * 1000 - HISTORY_MARGIN_MS;
  if (history.length > HISTORY_MAX || (history[0] && history[0].seenAt < horizon)) {
    history = history.filter((p) => p.seenAt >= horizon).slice(-HISTORY_MAX);
  }
  const caughtUp = replayed !== null && replayed >= published;
  return { published: history, caughtUpAt: caughtUp ? now : prev.caughtUpAt };
}

/** The replay lag in milliseconds (0 when caught up); null when nothing was observed yet. */
export function replayLagMs(memory: ReplayLagMemory | null | undefined, local: LocalPostgresState): number | null {
  const last = memory?.published[memory.published.length - 1];
  if (!memory || !last) return null;
  const replayed = replayedPosition(local) ?? 0;
  // The newest remembered position we have replayed: we hold everything published when it was seen.
  let holdsUpTo = memory.caughtUpAt;
  for (let i = memory.published.length - 1; i >= 0; i--) {
    const p = memory.published[i] as { lsn: number; seenAt: number };
    if (p.lsn <= replayed) {
      holdsUpTo = Math.max(holdsUpTo, p.seenAt);
      break;
    }
  }
  return Math.max(0, last.seenAt - holdsUpTo);
}

/** `10s`, `500ms`, `1.5s`: a limit in seconds as the refusal sentence shows it. */
export function formatLagLimit(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}
