/**
 * A fake clock for tests and the simulation: time moves only when `advance` is called, and
 * sleepers wake in due order, with promise chains given the chance to settle in between.
 */
import type { Clock } from '../runtime/ports.js';

export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, waking each sleeper at its due time in order. */
  advance(ms: number): Promise<void>;
  /** Lets pending promise chains run (no time passes). */
  settle(): Promise<void>;
  /** Number of sleepers waiting. */
  readonly pending: number;
}

interface Sleeper {
  due: number;
  seq: number;
  wake: () => void;
}

/** A fake clock starting at monotonic `start` ms and wall time `wallStart` (epoch ms). */
export function createFakeClock(options: { start?: number; wallStart?: number } = {}): FakeClock {
  let now = options.start ?? 0;
  const wallOffset = (options.wallStart ?? Date.UTC(2026, 0, 1)) - now;
  let seq = 0;
  const sleepers = new Set<Sleeper>();

  const settle = async (): Promise<void> => {
    // Microtask chains drain before each macrotask; a few rounds also cover code that hops
    // through setImmediate / queueMicrotask combinations.
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };

  return {
    now: () => now,
    wallNow: () => now + wallOffset,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const sleeper: Sleeper = {
          due: now + Math.max(0, ms),
          seq: seq++,
          wake: () => {
            sleepers.delete(sleeper);
            signal?.removeEventListener('abort', sleeper.wake);
            resolve();
          },
        };
        sleepers.add(sleeper);
        signal?.addEventListener('abort', sleeper.wake, { once: true });
      });
    },
    async advance(ms) {
      const target = now + Math.max(0, ms);
      await settle();
      for (;;) {
        let next: Sleeper | null = null;
        for (const s of sleepers) {
          if (s.due <= target && (next === null || s.due < next.due || (s.due === next.due && s.seq < next.seq))) next = s;
        }
        if (!next) break;
        now = Math.max(now, next.due);
        next.wake();
        await settle();
      }
      now = target;
      await settle();
    },
    settle,
    get pending() {
      return sleepers.size;
    },
  };
}
