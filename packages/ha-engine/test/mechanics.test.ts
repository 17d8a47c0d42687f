// The loop's building blocks: deadlines, the background slot, the safety deadline, the fake
// clock, the history merge.
import { describe, expect, it } from 'vitest';
import type { LongAction } from '../src/index.js';
import { BackgroundSlot } from '../src/runtime/background.js';
import { DeadlineExceeded, mergeHistory, SafetyDeadline, withDeadline } from '../src/index.js';
import { createFakeClock } from '@pgha/ha-engine/testing';

const action = (label: string, preempt = false): LongAction => ({ kind: 'restart', label, preempt });

describe('withDeadline', () => {
  it('passes results and errors through, and gives up (aborting) at the deadline', async () => {
    const clock = createFakeClock();
    expect(await withDeadline(clock, 1000, 'x', async () => 42)).toBe(42);
    await expect(withDeadline(clock, 1000, 'x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    let aborted = false;
    const hung = withDeadline(clock, 1000, 'reading the state', (signal) => {
      signal.addEventListener('abort', () => (aborted = true));
      return new Promise<never>(() => {});
    });
    const outcome = hung.catch((e: unknown) => e);
    await clock.advance(999);
    expect(aborted).toBe(false);
    await clock.advance(1);
    const e = await outcome;
    expect(e).toBeInstanceOf(DeadlineExceeded);
    expect((e as Error).message).toBe('reading the state did not finish within 1000 ms');
    expect(aborted).toBe(true);
    expect(clock.pending).toBe(0);
  });
});

describe('BackgroundSlot', () => {
  it('runs one action at a time and records how it ended', async () => {
    const clock = createFakeClock();
    const settled: string[] = [];
    const slot = new BackgroundSlot(clock, (o) => settled.push(`${o.label}:${o.ok}`));
    expect(slot.start(action('first'), (signal) => clock.sleep(5000, signal))).toBe('started');
    expect(slot.running).toMatchObject({ kind: 'restart', label: 'first', startedAt: 0 });
    expect(slot.start(action('second'), async () => {})).toBe('busy');
    await clock.advance(5000);
    expect(slot.running).toBeNull();
    expect(slot.last).toMatchObject({ label: 'first', ok: true, startedAt: 0, finishedAt: 5000 });
    expect(slot.start(action('failing'), async () => Promise.reject(new Error('pg_ctl: could not start server')))).toBe('started');
    await slot.idle();
    expect(slot.last).toMatchObject({ label: 'failing', ok: false, error: 'pg_ctl: could not start server' });
    expect(settled).toEqual(['first:true', 'failing:false']);
  });

  it('a preempting action aborts the running one and runs after it', async () => {
    const clock = createFakeClock();
    const order: string[] = [];
    const slot = new BackgroundSlot(clock, (o) => order.push(`${o.label}:${o.ok}`));
    slot.start(action('slow'), async (signal) => {
      await clock.sleep(60_000, signal);
      if (signal.aborted) throw new Error('aborted');
    });
    expect(slot.start(action('demote', true), async () => {})).toBe('queued');
    await clock.settle();
    await slot.idle();
    expect(order).toEqual(['slow:false', 'demote:true']);
    expect(clock.now()).toBe(0);
  });
});

describe('SafetyDeadline', () => {
  it('fires at validUntil − margin unless re-armed or disarmed', async () => {
    const clock = createFakeClock();
    const fired: number[] = [];
    const safety = new SafetyDeadline(clock, (d) => fired.push(clock.now() - d));
    safety.arm(30_000, 5_000);
    await clock.advance(20_000);
    safety.arm(50_000, 5_000); // a renewal moved it
    await clock.advance(10_000);
    expect(fired).toEqual([]);
    await clock.advance(15_000);
    expect(fired).toEqual([0]);
    expect(clock.now()).toBe(45_000);
    safety.arm(60_000, 5_000);
    safety.disarm();
    await clock.advance(60_000);
    expect(fired).toEqual([0]);
    expect(safety.deadline).toBeNull();
  });

  it('fires at once without a live session', async () => {
    const clock = createFakeClock();
    let fired = 0;
    new SafetyDeadline(clock, () => fired++).arm(null, 5_000);
    await clock.settle();
    expect(fired).toBe(1);
  });
});

describe('mergeHistory', () => {
  it('keeps known timestamps and leaders, marks the new leader, trims', () => {
    const merged = mergeHistory({
      fromFiles: [
        { timeline: 1, lsn: 100, reason: 'no recovery target specified' },
        { timeline: 2, lsn: 200, reason: 'no recovery target specified' },
        { timeline: 3, lsn: 300, reason: 'no recovery target specified' },
      ],
      existing: [
        { timeline: 1, lsn: 100, reason: 'x', timestamp: '2026-01-01T00:00:00+00:00', new_leader: 'pg1' },
        { timeline: 2, lsn: 200, reason: 'x', timestamp: '2026-01-02T00:00:00+00:00', new_leader: 'pg2' },
      ],
      newLeader: 'pg0',
      nowIso: '2026-01-03T00:00:00.000Z',
      maxLines: 2,
    });
    expect(merged).toEqual([
      { timeline: 2, lsn: 200, reason: 'no recovery target specified', timestamp: '2026-01-02T00:00:00+00:00', new_leader: 'pg2' },
      { timeline: 3, lsn: 300, reason: 'no recovery target specified', timestamp: '2026-01-03T00:00:00.000Z', new_leader: 'pg0' },
    ]);
  });
});
