// The lock holder's rules applied between cycles (core/lease.ts): what counts as writable for
// the fence, and that a paused cluster is never fenced.
import { describe, expect, it } from 'vitest';
import type { LocalPostgresState, RunningAction } from '../src/index.js';
import { fencePlan, mayBePrimaryAtExit, mayTakeWrites, startsWritable, watchdogAfterRenewal, watchdogTiming } from '../src/index.js';

const local = (role: 'primary' | 'replica', running = true): LocalPostgresState => ({
  dataDirectory: 'initialized',
  systemId: '1',
  running,
  state: running ? 'running' : 'stopped',
  role,
  timeline: 1,
  lsn: 0,
  following: null,
  streaming: false,
  pendingRestart: false,
  rewindPossible: true,
});
const running = (kind: RunningAction['kind']): RunningAction => ({ kind, label: kind, startedAt: 0 });

describe('startsWritable', () => {
  it('is promote, bootstrap, restart and a primary start; not a replica start, a stop or a demote', () => {
    expect(
      [
        { kind: 'promote' as const },
        { kind: 'bootstrap' as const },
        { kind: 'restart' as const },
        { kind: 'start' as const, role: 'primary' as const },
        { kind: 'start' as const, role: 'replica' as const },
        { kind: 'stop' as const },
        { kind: 'demote' as const },
        { kind: 'rewind' as const },
      ].map((a) => `${a.kind}${'role' in a ? `(${a.role})` : ''}=${startsWritable(a)}`),
    ).toMatchInlineSnapshot(`
      [
        "promote=true",
        "bootstrap=true",
        "restart=true",
        "start(primary)=true",
        "start(replica)=false",
        "stop=false",
        "demote=false",
        "rewind=false",
      ]
    `);
  });
});

describe('mayTakeWrites', () => {
  const none = { startedWritable: false, local: null, running: null };
  it('a running primary read last', () => {
    expect(mayTakeWrites({ ...none, local: local('primary') })).toBe(true);
    expect(mayTakeWrites({ ...none, local: local('primary', false) })).toBe(false);
    expect(mayTakeWrites({ ...none, local: local('replica') })).toBe(false);
  });
  it('a writable action begun since the last read, even if the read showed a replica', () => {
    expect(mayTakeWrites({ ...none, startedWritable: true, local: local('replica') })).toBe(true);
  });
  it('a running promote, bootstrap, restart or primary start; not a replica start, a stop, a demote, a rewind', () => {
    for (const kind of ['promote', 'bootstrap', 'restart'] as const) expect(mayTakeWrites({ ...none, running: running(kind) })).toBe(true);
    for (const kind of ['start', 'stop', 'demote', 'rewind', 'create_replica'] as const) expect(mayTakeWrites({ ...none, running: running(kind) })).toBe(false);
    expect(mayTakeWrites({ ...none, running: { ...running('start'), role: 'replica' } })).toBe(false);
  });
  it('a primary start still running after a state read showed the server down (crash recovery outlasting the lease)', () => {
    const recovering = { startedWritable: false, local: local('primary', false), running: { ...running('start'), role: 'primary' as const } };
    expect(mayTakeWrites(recovering)).toBe(true);
    expect(fencePlan({ ...recovering, paused: false })).toEqual({ kind: 'fence' });
  });
});

describe('fencePlan', () => {
  it('fences a writable server', () => {
    expect(fencePlan({ startedWritable: false, local: local('primary'), running: null, paused: false })).toEqual({ kind: 'fence' });
  });
  it('skips a server that cannot take writes', () => {
    expect(fencePlan({ startedWritable: false, local: local('replica'), running: null, paused: false })).toEqual({ kind: 'skip', why: 'not-writable' });
  });
  it('never fences in maintenance mode, writable or not', () => {
    expect(fencePlan({ startedWritable: true, local: local('primary'), running: running('promote'), paused: true })).toEqual({ kind: 'skip', why: 'paused' });
  });
});

describe('watchdogAfterRenewal', () => {
  it('keeps an armed watchdog alive, paused or demoting alike', () => {
    expect(watchdogAfterRenewal({ armed: true, paused: true, running: running('demote') })).toBe('keepalive');
  });
  it('re-arms a disarmed one (after a fence, a DCS outage survived)', () => {
    expect(watchdogAfterRenewal({ armed: false, paused: false, running: null })).toBe('activate');
    expect(watchdogAfterRenewal({ armed: false, paused: false, running: running('restart') })).toBe('activate');
  });
  it('leaves it disarmed in maintenance mode and while a demote runs', () => {
    expect(watchdogAfterRenewal({ armed: false, paused: true, running: null })).toBe('none');
    expect(watchdogAfterRenewal({ armed: false, paused: false, running: running('demote') })).toBe('none');
  });
});

// Moved from the agent's watchdog wiring (issue #19): the watchdog's ttl is the lease the DCS granted.
describe('watchdogTiming', () => {
  const config = { ttl: 30, loopWait: 10 };

  it('is the ttl and loop_wait when the lease is the ttl or longer', () => {
    expect(watchdogTiming(config, 30)).toEqual({ ttl: 30, loopWait: 10 });
    expect(watchdogTiming(config, 40)).toEqual({ ttl: 30, loopWait: 10 });
  });

  it('is the granted lease when the DCS cut it below the ttl (a ZooKeeper session)', () => {
    expect(watchdogTiming(config, 12)).toEqual({ ttl: 12, loopWait: 10 });
  });

  it('ignores an unknown or unusable lease', () => {
    for (const lease of [null, 0, -5, Number.NaN, Number.POSITIVE_INFINITY]) expect(watchdogTiming(config, lease)).toEqual({ ttl: 30, loopWait: 10 });
  });
});

describe('mayBePrimaryAtExit', () => {
  const replica = { startedWritable: false, local: local('replica'), running: null };
  it('fences a lock holder, an unknown state, a primary and a promotion under way; not a plain replica', () => {
    expect(mayBePrimaryAtExit({ ...replica, holdsLock: false })).toBe(false);
    expect(mayBePrimaryAtExit({ ...replica, holdsLock: true })).toBe(true);
    expect(mayBePrimaryAtExit({ ...replica, local: null, holdsLock: false })).toBe(true);
    expect(mayBePrimaryAtExit({ ...replica, local: { ...local('replica'), unknown: { kind: 'x' } } as unknown as LocalPostgresState, holdsLock: false })).toBe(true);
    expect(mayBePrimaryAtExit({ ...replica, local: local('primary'), holdsLock: false })).toBe(true);
    expect(mayBePrimaryAtExit({ ...replica, running: running('promote'), holdsLock: false })).toBe(true);
  });
});
