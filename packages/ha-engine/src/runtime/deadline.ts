/**
 * Bounding a call in time on the engine's clock, so nothing the loop waits for can hang it:
 * a hung DCS, PostgreSQL or peer costs at most the deadline.
 */
import type { Clock } from './ports.js';

/** A call did not settle before its deadline. */
export class DeadlineExceeded extends Error {
  readonly code = 'ENGINE_DEADLINE';
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${Math.round(ms)} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * Runs `fn` with an AbortSignal and rejects with DeadlineExceeded (aborting the signal) if it has
 * not settled after `ms` on `clock`. The call itself is not awaited past the deadline: a late
 * answer is dropped.
 */
export function withDeadline<T>(clock: Clock, ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const call = new AbortController();
  const timer = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      timer.abort();
      return true;
    };
    void clock.sleep(ms, timer.signal).then(() => {
      if (!settle()) return;
      call.abort();
      reject(new DeadlineExceeded(what, ms));
    });
    let promise: Promise<T>;
    try {
      promise = fn(call.signal);
    } catch (e) {
      promise = Promise.reject(e);
    }
    promise.then(
      (v) => {
        if (settle()) resolve(v);
      },
      (e: unknown) => {
        if (settle()) reject(e);
      },
    );
  });
}

/** The message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
