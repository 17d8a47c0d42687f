/**
 * Patroni's rules for a restart requested through POST /restart: the filters that must hold on
 * the member (`restart_matches`), when a scheduled restart falls due, and what happens then. The
 * REST API only records the schedule as an intent (`intents.scheduledRestart`); each cycle
 * decides from the snapshot whether it waits (and asks the scheduler to wake it at its time),
 * restarts, or is skipped (`scheduledRestartStep`).
 */
import { pausedScheduleRefusal } from './manual-failover.js';
import { memberRole } from './member-data.js';
import type { Snapshot } from './snapshot.js';

/** The filters of a restart request. */
export interface RestartFilters {
  role?: 'primary' | 'replica';
  /** Restart only if the running server is older than this `server_version_num`. */
  postgresVersion?: number;
  /** Restart only if PostgreSQL reports a pending restart. */
  restartPending?: boolean;
  /** Seconds to wait for PostgreSQL to come back. */
  timeout?: number;
}

/** `15.4` → 150004, `9.6.24` → 90624; null when malformed (Patroni's `postgres_version_to_int`). */
export function postgresVersionToInt(text: string): number | null {
  const parts = text.trim().split('.');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) return null;
  const [a, b, c] = parts.map(Number) as [number, number, number | undefined];
  if (a >= 10) return parts.length === 2 ? a * 10000 + b : null;
  return a * 10000 + b * 100 + (c ?? 0);
}

/** What the filters are checked against: the member as the last cycle saw it. */
export interface RestartFacts {
  /** The member key's role (`master` is read as `primary`). */
  role: string | undefined;
  /** `server_version_num` of the running server; undefined when not known. */
  serverVersion: number | undefined;
  pendingRestart: boolean;
}

/** Patroni's `restart_matches`: every filter given must hold on this member now. */
export function restartMatches(filters: RestartFilters, facts: RestartFacts): boolean {
  const role = facts.role === 'master' || facts.role === 'primary' ? 'primary' : facts.role;
  if (filters.role && filters.role !== role) return false;
  if (filters.postgresVersion !== undefined) {
    if (facts.serverVersion === undefined || facts.serverVersion >= filters.postgresVersion) return false;
  }
  if (filters.restartPending && !facts.pendingRestart) return false;
  return true;
}

/** Why a restart cannot be scheduled now (Patroni's answers); null when it can. */
export function scheduleRestartProblem(facts: { paused: boolean; alreadyScheduled: boolean }): { status: number; text: string } | null {
  if (facts.paused) return { status: 500, text: pausedScheduleRefusal('restart') };
  if (facts.alreadyScheduled) return { status: 409, text: 'Another restart is already scheduled' };
  return null;
}

/** The longest wait one timer can take (Node arms a longer one after 1 ms). */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * A scheduled restart at `dueAt` (wall ms), checked at `now`: wait (at most one timer's worth, a
 * farther schedule is checked again when it ends), or act.
 */
export function scheduledRestartTiming(dueAt: number, now: number): { kind: 'wait'; ms: number } | { kind: 'due' } {
  if (now >= dueAt) return { kind: 'due' };
  return { kind: 'wait', ms: Math.min(dueAt - now, LONGEST_TIMER_MS) };
}

/**
 * What a scheduled restart that fell due does: restart when its filters hold on the member as
 * last seen and nothing else runs; otherwise it is skipped (not retried), with the reason.
 * `facts` null: no cycle has been seen yet, so the filters cannot be known to hold.
 */
export function dueRestartVerdict(input: { filters: RestartFilters; facts: RestartFacts | null; busy: boolean }): { kind: 'restart' } | { kind: 'skip'; why: string } {
  if (!input.facts || !restartMatches(input.filters, input.facts)) return { kind: 'skip', why: 'restart conditions are not satisfied' };
  if (input.busy) return { kind: 'skip', why: 'another action is in progress' };
  return { kind: 'restart' };
}

/** A restart scheduled through POST /restart (`schedule`), recorded for the engine. */
export interface ScheduledRestartIntent {
  /** Wall ms (since the Unix epoch) when it falls due. */
  dueAt: number;
  /** The `schedule` as requested (ISO 8601 with offset), shown in the member key and GET /patroni. */
  schedule: string;
  filters: RestartFilters;
}

/** What the member key and GET /patroni show of a scheduled restart (the request's fields). */
export function scheduledRestartView(intent: ScheduledRestartIntent): Record<string, unknown> {
  return { ...intent.filters, schedule: intent.schedule };
}

/** The restart filters' facts from a snapshot: the role the member key shows, the running server. */
export function restartFactsOf(s: Snapshot): RestartFacts {
  return { role: memberRole(s), serverVersion: s.local.serverVersion ?? undefined, pendingRestart: s.local.pendingRestart };
}

/** What this cycle does about the scheduled restart. */
export type ScheduledRestartStep = { kind: 'none' } | { kind: 'wait'; ms: number } | { kind: 'restart' } | { kind: 'skip'; why: string };

/**
 * The scheduled restart in `s`: none; not due yet (wake the loop at its time); due, and its
 * filters hold on the member now with nothing else running or requested (restart, as a
 * POST /restart would); or due and skipped, not retried (`dueRestartVerdict`).
 */
export function scheduledRestartStep(s: Snapshot): ScheduledRestartStep {
  const intent = s.intents.scheduledRestart;
  if (!intent) return { kind: 'none' };
  const timing = scheduledRestartTiming(intent.dueAt, s.wallNow);
  if (timing.kind === 'wait') return timing;
  const facts = s.local.unknown !== undefined ? null : restartFactsOf(s);
  return dueRestartVerdict({ filters: intent.filters, facts, busy: s.running !== null || s.intents.restart !== undefined });
}
