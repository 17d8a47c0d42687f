/**
 * What every part of the runtime shares: the ports, the clock, the log, and the configuration in
 * effect (the defaults until the first DCS read, then the one resolved by the last cycle). Each
 * call the runtime waits for is bounded here, so nothing it awaits can hang it.
 */
import type { ClusterStore, Logger } from '@pgha/dcs';
import type { EngineConfig } from '../core/config.js';
import type { MemberIdentity } from '../core/snapshot.js';
import { errorMessage, withDeadline } from './deadline.js';
import type { Clock, PeerProbe, PostgresPort, WatchdogPort } from './ports.js';

export interface Runtime {
  readonly me: MemberIdentity;
  readonly store: ClusterStore;
  readonly postgres: PostgresPort;
  readonly peers: PeerProbe;
  readonly watchdog: WatchdogPort;
  readonly clock: Clock;
  readonly log: Logger;
  /** Deadline of one round of peer probes (ms). */
  readonly probeTimeoutMs: number;
  /** Written by the observation at each successful DCS read. */
  config: EngineConfig;
  /** Set once, by `stop`, `shutdown` or an `exit` action. */
  stopped: boolean;
}

/** The DCS call deadline (`retry_timeout`), also used for reads of PostgreSQL's state. */
export function dcsTimeoutMs(rt: Runtime): number {
  return rt.config.retryTimeout * 1000;
}

/** How long a PostgreSQL start or stop may take before the runtime stops waiting for it. */
export function startTimeoutMs(rt: Runtime): number {
  return Math.max(rt.config.primaryStartTimeout, rt.config.loopWait) * 1000;
}

/**
 * One DCS call with the call deadline passed down and enforced on our clock too (with a second of
 * slack, so the driver's own deadline normally fires first and reports the real cause).
 */
export function dcsCall<T>(rt: Runtime, what: string, call: (options: { timeoutMs: number }) => Promise<T>): Promise<T> {
  const timeoutMs = dcsTimeoutMs(rt);
  return withDeadline(rt.clock, timeoutMs + 1000, what, () => call({ timeoutMs }));
}

/** Waits for `p` at most the start timeout; a wait that runs out is logged, not thrown. */
export async function boundedWait(rt: Runtime, p: Promise<void>, what: string): Promise<void> {
  try {
    await withDeadline(rt.clock, startTimeoutMs(rt), what, () => p);
  } catch (e) {
    rt.log.warn({ err: errorMessage(e) }, `${what} did not finish`);
  }
}
