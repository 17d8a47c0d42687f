// The restart request rules (core/scheduled-restart.ts; moved from the REST API, issue #19):
// Patroni's restart filters, when a scheduled restart is due, and what it does then.
import { describe, expect, it } from 'vitest';
import {
  decide,
  describeAction,
  dueRestartVerdict,
  LONGEST_TIMER_MS,
  postgresVersionToInt,
  restartFactsOf,
  restartMatches,
  scheduledRestartStep,
  scheduledRestartTiming,
  scheduleRestartProblem,
  type RestartFacts,
  type RestartFilters,
  type ScheduledRestartIntent,
} from '../src/index.js';
import { leaderSnapshot, runningReplica, snapshot } from './fixtures/snapshots.js';

const WALL = Date.UTC(2026, 11, 3, 12, 0, 0);

const replica: RestartFacts = { role: 'replica', serverVersion: 150004, pendingRestart: false };
const primary: RestartFacts = { role: 'master', serverVersion: 150004, pendingRestart: true };

describe('restartMatches', () => {
  it('without filters, always', () => {
    expect(restartMatches({}, replica)).toBe(true);
  });

  it('role: master and primary are the same role', () => {
    expect(restartMatches({ role: 'primary' }, primary)).toBe(true);
    expect(restartMatches({ role: 'primary' }, { ...primary, role: 'primary' })).toBe(true);
    expect(restartMatches({ role: 'primary' }, replica)).toBe(false);
    expect(restartMatches({ role: 'replica' }, replica)).toBe(true);
  });

  it('postgres_version: only a server older than the version given', () => {
    expect(restartMatches({ postgresVersion: 150005 }, replica)).toBe(true);
    expect(restartMatches({ postgresVersion: 150004 }, replica)).toBe(false);
    expect(restartMatches({ postgresVersion: 150005 }, { ...replica, serverVersion: undefined })).toBe(false);
  });

  it('restart_pending: only when PostgreSQL reports one', () => {
    expect(restartMatches({ restartPending: true }, primary)).toBe(true);
    expect(restartMatches({ restartPending: true }, replica)).toBe(false);
    expect(restartMatches({ restartPending: false }, replica)).toBe(true);
  });
});

describe('scheduleRestartProblem', () => {
  it('refuses in maintenance mode, then a second schedule', () => {
    expect(scheduleRestartProblem({ paused: true, alreadyScheduled: true })).toEqual({ status: 500, text: "Can't schedule restart in the paused state" });
    expect(scheduleRestartProblem({ paused: false, alreadyScheduled: true })).toEqual({ status: 409, text: 'Another restart is already scheduled' });
    expect(scheduleRestartProblem({ paused: false, alreadyScheduled: false })).toBeNull();
  });
});

describe('scheduledRestartTiming', () => {
  it('is due at and after its time', () => {
    expect(scheduledRestartTiming(1000, 1000)).toEqual({ kind: 'due' });
    expect(scheduledRestartTiming(1000, 5000)).toEqual({ kind: 'due' });
  });

  it('waits until then, at most one timer at a time', () => {
    expect(scheduledRestartTiming(5000, 1000)).toEqual({ kind: 'wait', ms: 4000 });
    expect(scheduledRestartTiming(40 * 86_400_000, 0)).toEqual({ kind: 'wait', ms: LONGEST_TIMER_MS });
  });
});

describe('dueRestartVerdict', () => {
  it('restarts when the filters hold and nothing else runs', () => {
    expect(dueRestartVerdict({ filters: { role: 'replica' }, facts: replica, busy: false })).toEqual({ kind: 'restart' });
  });

  it('skips when the filters do not hold, or before any cycle was seen', () => {
    expect(dueRestartVerdict({ filters: { role: 'primary' }, facts: replica, busy: false })).toEqual({ kind: 'skip', why: 'restart conditions are not satisfied' });
    expect(dueRestartVerdict({ filters: {}, facts: null, busy: false })).toEqual({ kind: 'skip', why: 'restart conditions are not satisfied' });
  });

  it('skips while another action runs (the conditions are checked first)', () => {
    expect(dueRestartVerdict({ filters: {}, facts: replica, busy: true })).toEqual({ kind: 'skip', why: 'another action is in progress' });
    expect(dueRestartVerdict({ filters: { role: 'primary' }, facts: replica, busy: true })).toEqual({ kind: 'skip', why: 'restart conditions are not satisfied' });
  });
});

describe('the scheduled restart in the cycle (the API only records it; core decides, the scheduler times it)', () => {
  const at = WALL + 5000;
  const intent = (filters: RestartFilters = {}): ScheduledRestartIntent => ({ dueAt: at, schedule: new Date(at).toISOString(), filters });
  const withIntent = (filters: RestartFilters = {}, over: Parameters<typeof snapshot>[0] = {}) =>
    snapshot({ wallNow: WALL, intents: { scheduledRestart: intent(filters) }, local: runningReplica({ serverVersion: 150004 }), ...over });

  it('before its time: waits, shown in the member key, and the loop is woken at its time', () => {
    expect(scheduledRestartStep(withIntent())).toEqual({ kind: 'wait', ms: 5000 });
    const d = decide(withIntent({ role: 'replica' }));
    expect(d.actions.map(describeAction)).not.toContain('restart');
    expect(d.member?.scheduled_restart).toEqual({ role: 'replica', schedule: new Date(at).toISOString() });
    expect(d.wakeAfterMs).toBe(5000);
  });

  it('at its time, with its filters holding: restarts and consumes it', () => {
    const d = decide(withIntent({ role: 'replica', postgresVersion: 150005 }, { wallNow: at }));
    expect(d.rule).toBe('restart-requested');
    expect(d.code).toBe('restart.scheduled');
    expect(d.actions.map(describeAction)).toEqual(['consume_intent(scheduledRestart)', 'restart']);
  });

  it('at its time, its filters failing or another action running: skipped, not retried, with the reason', () => {
    const wrongRole = decide(withIntent({ role: 'primary' }, { wallNow: at }));
    expect(wrongRole.actions.map(describeAction)).toContain('consume_intent(scheduledRestart)');
    expect(wrongRole.actions.map(describeAction)).not.toContain('restart');
    expect(wrongRole.notes).toContain('the scheduled restart was skipped: restart conditions are not satisfied');
    const newer = decide(withIntent({ postgresVersion: 150004 }, { wallNow: at }));
    expect(newer.notes).toContain('the scheduled restart was skipped: restart conditions are not satisfied');
    const busy = decide(withIntent({}, { wallNow: at, running: { kind: 'follow', label: 'follow', startedAt: 0 } }));
    expect(busy.notes).toContain('the scheduled restart was skipped: another action is in progress');
    expect(busy.actions.map(describeAction)[0]).toBe('consume_intent(scheduledRestart)');
  });

  it('reads the role the member key shows and the running server version', () => {
    expect(restartFactsOf(withIntent())).toEqual({ role: 'replica', serverVersion: 150004, pendingRestart: false });
    expect(restartFactsOf(leaderSnapshot()).role).toBe('primary');
  });
});

describe('postgresVersionToInt (one copy: the API and pghactl validate with it)', () => {
  it("reads Patroni's forms and refuses others", () => {
    expect(postgresVersionToInt('15.4')).toBe(150004);
    expect(postgresVersionToInt('9.6.24')).toBe(90624);
    expect(postgresVersionToInt('15')).toBeNull();
    expect(postgresVersionToInt('fifteen')).toBeNull();
  });
});
