// The restart request rules (core/scheduled-restart.ts; moved from the REST API, issue #19):
// Patroni's restart filters, when a scheduled restart is due, and what it does then.
import { describe, expect, it } from 'vitest';
import { dueRestartVerdict, LONGEST_TIMER_MS, restartMatches, scheduledRestartTiming, scheduleRestartProblem, type RestartFacts } from '../src/index.js';

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
