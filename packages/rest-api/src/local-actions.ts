/**
 * POST /restart, DELETE /restart, POST /reinitialize and POST /reload. The API never touches
 * PostgreSQL: it checks Patroni's conditions against the last cycle's snapshot, records an intent
 * for the local HA loop, wakes it, and waits for the cycle that consumed the intent (and, for a
 * restart, for the background action it started) to report the outcome.
 *
 * A scheduled restart is recorded as an intent at once (`scheduledRestart`); the API keeps no
 * timer. When it is due, whether its filters hold then and what it does are the engine's rules
 * (@pgha/ha-engine core/scheduled-restart.ts), timed by the loop's scheduler.
 */
import { postgresVersionToInt, reinitializeRefusal, restartMatches as filtersHold, scheduledRestartView, scheduleRestartProblem, type RestartFacts, type RestartFilters, type ScheduledRestartIntent } from '@pgha/ha-engine';
import type { ApiSnapshot } from './state.js';
import { parseSchedule, type ApiAnswer } from './switchover.js';

export type { RestartFilters } from '@pgha/ha-engine';

/** What one finished HA cycle reports to the API. */
export interface CycleSummary {
  /** The decision's reason (Patroni's sentence, e.g. `I am the leader, can not reinitialize`). */
  reason: string;
  /** The actions run, rendered (`consume_intent(restart)`, `restart`, `reinitialize(pg0)`). */
  actions: string[];
  /** The background action still running after the cycle. */
  running: { kind: string; label: string } | null;
  /** How the most recent background action ended (as of the cycle's start). */
  lastAction: { kind: string; ok: boolean; error?: string; startedAt: number } | null;
  /**
   * The tokens (`LoopPort.request`) of the requests the cycle's decision saw: the API answers a
   * request from the cycle that decided it, not from whichever cycle ran next.
   */
  saw: { restart?: number; reinitialize?: number };
}

/** The local HA loop, as the API drives it. */
export interface LoopPort {
  /** Records a restart / reinitialize request for the next cycle and wakes the loop; returns its token. */
  request(kind: 'restart'): number;
  request(kind: 'reinitialize', fromLeader: boolean): number;
  /** True while a request of that kind is recorded and not consumed. */
  pending(kind: 'restart' | 'reinitialize'): boolean;
  /** Records a scheduled restart for the engine (replacing none: the API refuses a second). */
  schedule(restart: ScheduledRestartIntent): void;
  /** The scheduled restart recorded and not yet consumed, or null. */
  scheduled(): ScheduledRestartIntent | null;
  /** Drops the scheduled restart. */
  unschedule(): void;
  /** The background action running now. */
  running(): { kind: string; label: string } | null;
  /** Calls `listener` after every cycle; returns the unsubscribe function. */
  onCycle(listener: (cycle: CycleSummary) => void): () => void;
}

export interface LocalActionPorts {
  loop: LoopPort;
  /** Re-reads the configuration file and reloads PostgreSQL (SIGHUP). */
  reload(): Promise<void>;
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall clock, for scheduled restarts. */
  wallNow(): Date;
  /** loop_wait, seconds: bounds the wait for the cycle that consumes an intent. */
  loopWait(): number;
  /** Called when a scheduled restart is recorded or removed (to show it in GET /patroni). */
  onScheduleChange?(): void;
  /** Reports a failed reload. */
  warn?(message: string): void;
}

const RESTART_KEYS = new Set(['schedule', 'role', 'postgres_version', 'timeout', 'restart_pending']);

/** Validates a POST /restart body; an answer on the first bad field. */
export function readRestartBody(body: Record<string, unknown>, wallNow: Date): { filters: RestartFilters; schedule?: Date; scheduleText?: string } | ApiAnswer {
  const filters: RestartFilters = {};
  let schedule: Date | undefined;
  let scheduleText: string | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (!RESTART_KEYS.has(key)) return { status: 400, text: `Unknown filter for the scheduled restart: ${key}` };
    if (key === 'schedule') {
      if (typeof value !== 'string') return { status: 400, text: 'schedule: expected an ISO 8601 timestamp string' };
      const parsed = parseSchedule(value, wallNow, 'restart');
      if (!(parsed instanceof Date)) return parsed;
      schedule = parsed;
      scheduleText = value;
    } else if (key === 'role') {
      if (value !== 'master' && value !== 'primary' && value !== 'replica') return { status: 400, text: 'PostgreSQL role should be either primary or replica' };
      filters.role = value === 'replica' ? 'replica' : 'primary';
    } else if (key === 'postgres_version') {
      const v = typeof value === 'string' ? postgresVersionToInt(value) : null;
      if (v === null) return { status: 400, text: 'PostgreSQL version should be in the first.major.minor format' };
      filters.postgresVersion = v;
    } else if (key === 'timeout') {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n) || n <= 0) return { status: 400, text: 'Timeout should be a positive number of seconds' };
      filters.timeout = n;
    } else if (key === 'restart_pending') {
      if (typeof value !== 'boolean') return { status: 400, text: 'restart_pending: expected true or false' };
      filters.restartPending = value;
    }
  }
  return { filters, ...(schedule && scheduleText ? { schedule, scheduleText } : {}) };
}

/** The member as the last cycle saw it, as the restart filters read it. */
function restartFacts(snapshot: ApiSnapshot): RestartFacts {
  return { role: snapshot.status.role, serverVersion: snapshot.status.server_version, pendingRestart: snapshot.status.pending_restart === true };
}

/** Patroni's `restart_matches` (the engine's rule) on the API's snapshot. */
export function restartMatches(filters: RestartFilters, snapshot: ApiSnapshot): boolean {
  return filtersHold(filters, restartFacts(snapshot));
}

const isAnswer = (v: unknown): v is ApiAnswer => typeof v === 'object' && v !== null && 'status' in v;

export interface LocalActions {
  restart(body: Record<string, unknown>, snapshot: ApiSnapshot): Promise<ApiAnswer>;
  deleteScheduledRestart(): ApiAnswer;
  reinitialize(body: Record<string, unknown>, snapshot: ApiSnapshot): Promise<ApiAnswer>;
  reload(): ApiAnswer;
  /** The restart waiting for its time, as GET /patroni shows it, if any. */
  scheduled(): Record<string, unknown> | null;
}

export function createLocalActions(ports: LocalActionPorts): LocalActions {
  let restarting = false;

  /** Resolves with the first cycle for which `test` returns a value, or null at `deadline`. */
  const nextCycle = <T>(test: (c: CycleSummary) => T | undefined, limitMs: number): Promise<T | null> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve(null);
      }, limitMs);
      const stop = ports.loop.onCycle((c) => {
        const v = test(c);
        if (v === undefined) return;
        clearTimeout(timer);
        stop();
        resolve(v);
      });
    });

  const intentWaitMs = () => 2 * Math.max(10, ports.loopWait()) * 1000;

  /**
   * Records a request and resolves with the cycle whose decision consumed it (or null when none
   * did in time). A cycle that saw the request without consuming it (a background action was
   * still running) is passed over: the request stays for a later cycle.
   */
  const decided = (kind: 'restart' | 'reinitialize', record: () => number): Promise<CycleSummary | null> => {
    // No cycle can report between the two lines: reports come from the loop, in later turns.
    const token = record();
    return nextCycle((c) => (c.saw[kind] === token && c.actions.includes(`consume_intent(${kind})`) ? c : undefined), intentWaitMs());
  };

  /** Records the restart intent and waits for its outcome. */
  const runRestart = async (timeoutSeconds: number | undefined): Promise<ApiAnswer> => {
    restarting = true;
    try {
      const consumed = await decided('restart', () => ports.loop.request('restart'));
      if (!consumed) return { status: 503, text: 'restart status unknown: the HA loop did not pick the request up' };
      if (!consumed.actions.includes('restart')) return { status: 503, text: consumed.reason || 'restart failed' };
      const before = consumed.lastAction?.startedAt;
      const outcome = await nextCycle(
        (c) => (c.running?.kind !== 'restart' && c.lastAction?.kind === 'restart' && c.lastAction.startedAt !== before ? c.lastAction : undefined),
        (timeoutSeconds ?? 120) * 1000 + intentWaitMs(),
      );
      if (!outcome) return { status: 503, text: 'postgres is still starting' };
      return outcome.ok ? { status: 200, text: 'restarted successfully' } : { status: 503, text: `restart failed${outcome.error ? `: ${outcome.error}` : ''}` };
    } finally {
      restarting = false;
    }
  };

  return {
    async restart(body, snapshot) {
      const read = readRestartBody(body, ports.wallNow());
      if (isAnswer(read)) return read;
      if (read.schedule && read.scheduleText) {
        const refused = scheduleRestartProblem({ paused: snapshot.status.pause === true, alreadyScheduled: ports.loop.scheduled() !== null });
        if (refused) return refused;
        ports.loop.schedule({ dueAt: read.schedule.getTime(), schedule: read.scheduleText, filters: read.filters });
        ports.onScheduleChange?.();
        return { status: 202, text: 'Restart scheduled' };
      }
      if (!restartMatches(read.filters, snapshot)) return { status: 503, text: 'restart conditions are not satisfied' };
      const running = ports.loop.running();
      if (restarting || running?.kind === 'restart') return { status: 503, text: 'restart already in progress' };
      if (running) return { status: 503, text: `${running.label} already in progress` };
      return runRestart(read.filters.timeout);
    },

    deleteScheduledRestart() {
      if (!ports.loop.scheduled()) return { status: 404, text: 'no restarts are scheduled' };
      ports.loop.unschedule();
      ports.onScheduleChange?.();
      return { status: 200, text: 'scheduled restart deleted' };
    },

    async reinitialize(body, snapshot) {
      for (const key of ['force', 'from_leader']) {
        const v = body[key];
        if (v !== undefined && typeof v !== 'boolean') return { status: 400, text: `${key}: expected true or false` };
      }
      const refusal = reinitializeRefusal({ leaderName: snapshot.cluster?.leader?.name ?? null, holdsLock: snapshot.hasLock });
      if (refusal) return { status: 503, text: refusal.sentence };
      const running = ports.loop.running();
      if (running?.kind === 'reinitialize' || ports.loop.pending('reinitialize')) return { status: 503, text: 'reinitialize already in progress' };
      if (running && body['force'] !== true) return { status: 503, text: `${running.label} already in progress` };
      const cycle = await decided('reinitialize', () => ports.loop.request('reinitialize', body['from_leader'] === true));
      if (!cycle) return { status: 503, text: 'reinitialize status unknown: the HA loop did not pick the request up' };
      if (cycle.actions.some((a) => a.startsWith('reinitialize'))) return { status: 200, text: 'reinitialize started' };
      return { status: 503, text: cycle.reason || 'reinitialize failed' };
    },

    reload() {
      void ports.reload().catch((e: unknown) => ports.warn?.(`reload failed: ${(e as Error).message}`));
      return { status: 202, text: 'reload scheduled' };
    },

    scheduled: () => {
      const intent = ports.loop.scheduled();
      return intent ? scheduledRestartView(intent) : null;
    },
  };
}
