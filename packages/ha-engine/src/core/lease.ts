/**
 * The lock holder's rules that apply between cycles, when the runtime acts without a decision:
 * whether PostgreSQL may take writes (so the safety deadline must fence it), whether to fence
 * at all, and what the watchdog gets after a renewal. Pure; lease-guard.ts applies them.
 */
import type { LongAction } from './actions.js';
import type { LocalPostgresState, RunningAction } from './snapshot.js';

/** Long actions after whose start PostgreSQL may accept writes before the next state read. */
export function startsWritable(action: Pick<LongAction, 'kind'> & { role?: 'primary' | 'replica' }): boolean {
  return action.kind === 'promote' || action.kind === 'bootstrap' || action.kind === 'restart' || (action.kind === 'start' && action.role === 'primary');
}

export interface WritableFacts {
  /** A `startsWritable` action began since PostgreSQL's state was last read. */
  startedWritable: boolean;
  /** The last state read. */
  local: LocalPostgresState | null;
  running: RunningAction | null;
}

/**
 * PostgreSQL may be taking writes: a primary was read, or an action that makes one began or
 * runs. A running one counts whatever the last state read showed: a read taken while it runs (a
 * primary still in crash recovery, not yet accepting connections) says nothing about the moment
 * it finishes, which may come after the lease is gone.
 */
export function mayTakeWrites(f: WritableFacts): boolean {
  return (
    f.startedWritable ||
    (f.local !== null && f.local.running && f.local.role === 'primary') ||
    (f.running !== null && startsWritable(f.running))
  );
}

/**
 * After a fault nothing handles (the agent is about to exit): whether this member may be, or may
 * soon be, a writable primary, so PostgreSQL must be fenced before the agent goes. Wider than
 * mayTakeWrites on purpose: holding the lock, or not knowing PostgreSQL's state at all, counts too —
 * nobody will be there to find out.
 */
export function mayBePrimaryAtExit(f: WritableFacts & { holdsLock: boolean }): boolean {
  return f.holdsLock || f.local === null || f.local.unknown !== undefined || mayTakeWrites(f);
}

/**
 * What to do when the safety deadline passed without a renewal: fence (stop PostgreSQL at once)
 * when it may take writes, except in maintenance mode, where pgha never stops PostgreSQL on its
 * own (Patroni's rule: paused, the operator owns the server).
 */
export type FencePlan = { kind: 'fence' } | { kind: 'skip'; why: 'not-writable' | 'paused' };

export function fencePlan(f: WritableFacts & { paused: boolean }): FencePlan {
  if (!mayTakeWrites(f)) return { kind: 'skip', why: 'not-writable' };
  if (f.paused) return { kind: 'skip', why: 'paused' };
  return { kind: 'fence' };
}

/**
 * What the watchdog gets after a successful renewal. A lock holder's watchdog is armed: kept
 * alive when it is. It is disarmed when PostgreSQL is fenced or demoted; if we keep (or get
 * back) the lock after that — the DCS came back with our lease alive, PostgreSQL restarted in
 * place — it is armed again before we rely on it. In maintenance mode it stays disarmed
 * (Patroni's rule), and during a demote too: the demote disarms it once PostgreSQL is down, and a
 * renewal racing the release after that must not leave an armed watchdog on a replica nobody
 * keeps alive.
 */
export function watchdogAfterRenewal(f: { armed: boolean; paused: boolean; running: RunningAction | null }): 'keepalive' | 'activate' | 'none' {
  if (f.armed) return 'keepalive';
  if (f.paused || f.running?.kind === 'demote') return 'none';
  return 'activate';
}

/**
 * The timing the watchdog is armed with: the engine's loop_wait, and the shorter of the ttl and
 * the lease the DCS actually granted (`leaseSeconds`, e.g. a ZooKeeper session the server cut
 * below the ttl asked for). The watchdog must fire before *that* lease runs out, or a frozen
 * primary still takes writes after a replica promoted. An unknown or unusable lease (null, 0,
 * not finite) leaves the ttl.
 */
export function watchdogTiming(config: { ttl: number; loopWait: number }, leaseSeconds: number | null): { ttl: number; loopWait: number } {
  const lease = leaseSeconds !== null && Number.isFinite(leaseSeconds) && leaseSeconds > 0 ? leaseSeconds : null;
  return { ttl: lease === null ? config.ttl : Math.min(config.ttl, lease), loopWait: config.loopWait };
}
