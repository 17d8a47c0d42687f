// The shared primitives: Patroni's parse_bool, LSN text, the timer clamp and sleep, the error base.
import { describe, expect, it } from 'vitest';
import { formatLsn, isPghaError, isTrue, nodeClock, parseBool, parseLsn, PghaError, sleep, timerDelay, MAX_TIMER_MS } from '../src/index.js';

describe('parseBool (Patroni parse_bool)', () => {
  it('reads on/true/yes/1 and off/false/no/0 in any case, booleans and the numbers 1 and 0', () => {
    for (const v of [true, 'on', 'ON', 'True', 'yes', 'Yes', '1', 1]) expect(parseBool(v), String(v)).toBe(true);
    for (const v of [false, 'off', 'OFF', 'False', 'no', 'No', '0', 0]) expect(parseBool(v), String(v)).toBe(false);
  });

  it('answers null for anything else, without trimming blanks (as Patroni)', () => {
    for (const v of [undefined, null, '', 'y', 't', 'enabled', ' on', 'on\n', 2, -1, {}, []]) expect(parseBool(v), JSON.stringify(v)).toBeNull();
  });

  it('isTrue is parseBool === true: unreadable and absent values are false', () => {
    expect([true, 'on', 'YES', '1', 1].map(isTrue)).toEqual([true, true, true, true, true]);
    expect([false, 'off', 'garbage', undefined, null, 2].map(isTrue)).toEqual([false, false, false, false, false, false]);
  });
});

describe('LSN', () => {
  it('parses X/Y into bytes and formats bytes back as PostgreSQL prints them', () => {
    expect(parseLsn('0/3000148')).toBe(0x3000148);
    expect(parseLsn(' 16/B374D848 ')).toBe(0x16 * 2 ** 32 + 0xb374d848);
    expect(formatLsn(0x16 * 2 ** 32 + 0xb374d848)).toBe('16/B374D848');
    expect(formatLsn(0)).toBe('0/0');
  });

  it('answers null for SQL NULL and for text that is not an LSN', () => {
    for (const v of [null, undefined, '', '3000148', '0/', 'G/1', '123456789/0']) expect(parseLsn(v), String(v)).toBeNull();
  });
});

describe('clock', () => {
  it('clamps timer delays to what Node can arm', () => {
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.NaN)).toBe(0);
    expect(timerDelay(250)).toBe(250);
    expect(timerDelay(Infinity)).toBe(MAX_TIMER_MS);
  });

  it('sleep resolves at once, without rejecting, when its signal is or becomes aborted', async () => {
    await expect(sleep(MAX_TIMER_MS, AbortSignal.abort())).resolves.toBeUndefined();
    const controller = new AbortController();
    const pending = nodeClock.sleep(MAX_TIMER_MS, controller.signal);
    controller.abort();
    await expect(pending).resolves.toBeUndefined();
  });
});

describe('PghaError', () => {
  class ThingError extends PghaError<'THING_BROKEN' | 'THING_BUSY'> {
    constructor(code: 'THING_BROKEN' | 'THING_BUSY', message: string) {
      super(code, message, { hint: 'try again later', cause: new Error('inner') });
      this.name = 'ThingError';
    }
  }

  it('carries a stable code, a hint and the cause; not retryable unless a subclass says so', () => {
    const e = new ThingError('THING_BUSY', 'the thing is busy');
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.message, e.hint, (e.cause as Error).message, e.isRetryable]).toEqual(['ThingError', 'THING_BUSY', 'the thing is busy', 'try again later', 'inner', false]);
  });

  it('is recognised by its registered marker, optionally with a code; plain errors are not', () => {
    const e = new ThingError('THING_BROKEN', 'broken');
    expect(isPghaError(e)).toBe(true);
    expect(isPghaError(e, 'THING_BROKEN')).toBe(true);
    expect(isPghaError(e, 'THING_BUSY')).toBe(false);
    expect(isPghaError(Object.assign(new Error('x'), { code: 'THING_BROKEN' }))).toBe(false);
    expect(isPghaError(null)).toBe(false);
  });
});
