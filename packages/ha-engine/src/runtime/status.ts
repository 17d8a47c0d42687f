/**
 * What the REST API and metrics read of the engine: the last cycle's state (`EngineStatus`), and
 * the listeners told of each cycle and of each change of the leader lock.
 */
import type { Cluster, ClusterConfig, Logger, MemberData, PatroniDialect, Versioned } from '@pgha/dcs';
import type { EngineConfig } from '../core/config.js';
import type { LocalPostgresState, RunningAction } from '../core/snapshot.js';
import type { ReceiverMemory } from '../core/wal-receiver.js';
import { isNotStreamingUnhealthy, notStreamingForMs } from '../core/wal-receiver.js';
import { errorMessage } from './deadline.js';

/** The last cycle, as the REST API and metrics need it. */
export interface EngineStatus {
  name: string;
  /** The role written to the member key (`primary`, `replica`, `demoted`, `uninitialized`). */
  role: string;
  /** The member state written to the member key (`running`, `starting`, `creating replica`, ...). */
  state: string;
  timeline: number | null;
  lsn: number | null;
  /** The lock holder seen in the last successful DCS read. */
  leader: string | null;
  /** We hold the leader lock (last acquire/renewal succeeded). */
  holdsLock: boolean;
  /** Monotonic ms of our last successful acquire or renewal of the lock; null if none yet. */
  lastLockRenewalAt: number | null;
  pendingRestart: boolean;
  lastReason: string | null;
  /** Monotonic ms at the end of the last cycle (for `/liveness`). */
  lastCycleAt: number | null;
  /** Wall ms of the last successful DCS read (`dcs_last_seen`). */
  dcsLastSeen: number | null;
  running: RunningAction | null;
  cluster: Cluster | null;
  local: LocalPostgresState | null;
  config: EngineConfig;
  member: MemberData | null;
  /**
   * Failsafe mode is active: on a primary, all members acknowledged it while the DCS is down (until
   * that expires); on a replica, a primary pinged it within ttl.
   */
  failsafeActive: boolean;
  /**
   * Why the DCS `config` value is not the one in effect (it does not parse, or a timing value is
   * out of range); null when it is. `dynamicConfig` is then the last good value.
   */
  configProblem: string | null;
  /** The dynamic configuration in effect, with its DCS version; null before one was read. */
  dynamicConfig: Versioned<ClusterConfig> | null;
  /**
   * The Patroni names in use (patroni-dialect.ts), as of the decision being carried out: the
   * member key, `GET /patroni`, the metrics and the callbacks follow it.
   */
  patroniDialect: PatroniDialect;
  /**
   * A replica not streaming from the upstream it should follow (wal-receiver.ts): whom, for how
   * long (ms), and whether that is past `replica_not_streaming_timeout` (then `/replica` and lag
   * checks answer 503). Null while it streams, or when it is no replica.
   */
  notStreaming: { upstream: string; forMs: number; unhealthy: boolean } | null;
}

/** A set of listeners; one that throws is logged and does not stop the others. */
export class Listeners<T> {
  readonly #listeners = new Set<(value: T) => void>();
  readonly #log: Logger;
  readonly #what: string;

  constructor(log: Logger, what: string) {
    this.#log = log;
    this.#what = what;
  }

  add(listener: (value: T) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(value);
      } catch (e) {
        this.#log.warn({ err: errorMessage(e) }, this.#what);
      }
    }
  }
}

/** What a finished cycle leaves for `status()` (the rest comes from the observation and the lease). */
export interface CycleRecord {
  lastReason: string | null;
  lastCycleAt: number | null;
  /** The member key written last. */
  lastMember: MemberData | null;
  /** The Patroni names of the last decision that could tell (the configured ones, or 3, before any). */
  patroniDialect: PatroniDialect;
}

/** The status from its parts. */
export function engineStatus(parts: {
  name: string;
  record: CycleRecord;
  local: LocalPostgresState | null;
  cluster: Cluster | null;
  dcsLastSeen: number | null;
  holdsLock: boolean;
  lastLockRenewalAt?: number | null;
  running: RunningAction | null;
  config: EngineConfig;
  failsafeActive: boolean;
  configProblem: string | null;
  dynamicConfig: Versioned<ClusterConfig> | null;
  /** The engine's memory of a replica not streaming, and the monotonic ms to judge it at. */
  receiver?: ReceiverMemory | null;
  now?: number;
}): EngineStatus {
  const { local, record } = parts;
  const receiver = parts.receiver ?? null;
  const now = parts.now ?? 0;
  const forMs = notStreamingForMs(receiver, now);
  return {
    name: parts.name,
    role: record.lastMember?.role ?? 'uninitialized',
    state: record.lastMember?.state ?? 'stopped',
    timeline: local?.timeline ?? null,
    lsn: local?.lsn ?? null,
    leader: parts.cluster?.leader?.name ?? null,
    holdsLock: parts.holdsLock,
    lastLockRenewalAt: parts.lastLockRenewalAt ?? null,
    pendingRestart: local?.pendingRestart ?? false,
    lastReason: record.lastReason,
    lastCycleAt: record.lastCycleAt,
    dcsLastSeen: parts.dcsLastSeen,
    running: parts.running,
    cluster: parts.cluster,
    local,
    config: parts.config,
    member: record.lastMember,
    failsafeActive: parts.failsafeActive,
    configProblem: parts.configProblem,
    dynamicConfig: parts.dynamicConfig,
    patroniDialect: record.patroniDialect,
    notStreaming: receiver && forMs !== null ? { upstream: receiver.upstream, forMs, unhealthy: isNotStreamingUnhealthy(receiver, now, parts.config) } : null,
  };
}
