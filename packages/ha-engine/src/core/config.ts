/**
 * The engine's view of the configuration: the dynamic settings (the DCS `config` key, or the
 * local `bootstrap.dcs` while that key is missing) merged with the local ones the engine needs.
 * As in Patroni, dynamic keys come from the DCS; the local `postgresql:` section overrides the
 * dynamic `postgresql:` one. Values of the wrong type fall back to the default with a warning.
 */
import { parseBool, synchronousModeOf as readSynchronousMode, type ClusterConfig, type PatroniDialect, type SynchronousMode } from '@pgha/dcs';
import type { SlotSpec } from './actions.js';
import type { StandbyClusterConfig } from './standby-cluster.js';
import { standbyClusterOf } from './standby-cluster.js';
import { DURATION_LIMITS, outOfRange, parseMaximumLagOnFailover, showValue, type FailoverLagLimit } from './config-bounds.js';
import { withoutDcsCommands } from './dcs-commands.js';

export interface EngineConfig {
  /** Leader lock time to live, seconds (`ttl`, default 30). */
  ttl: number;
  /** Seconds between cycles (`loop_wait`, default 10). */
  loopWait: number;
  /** Deadline of one DCS call, seconds (`retry_timeout`, default 10). */
  retryTimeout: number;
  /**
   * Bytes a replica may lag behind the last known primary position and still promote (default
   * 1 MiB). When `maximum_lag_on_failover` is given as a time this is Number.MAX_SAFE_INTEGER (no
   * byte limit) and `maximumReplayLagOnFailover` holds the limit.
   */
  maximumLagOnFailover: number;
  /**
   * `maximum_lag_on_failover` given as a duration (`10s`, `500ms`, `2min`), in seconds: how far
   * behind in replay time (replay-lag.ts) a replica may be and still be promoted automatically.
   * Null when the limit is in bytes (a bare number, as in Patroni).
   */
  maximumReplayLagOnFailover: number | null;
  /** Seconds a crashed primary holding the lock may take to start before failing over (`primary_start_timeout`, alias `master_start_timeout`, default 300). */
  primaryStartTimeout: number;
  /**
   * Seconds a primary's stop (demote, shutdown) may take in synchronous mode before PostgreSQL is
   * killed (`primary_stop_timeout`, alias `master_stop_timeout`; 0, the default, waits as long as
   * any stop). See primaryStopTimeoutMs.
   */
  primaryStopTimeout: number;
  /** Refuse to promote a member whose timeline is behind the cluster's (`check_timeline`, default false). */
  checkTimeline: boolean;
  /** Keep only the last N lines of the `history` key (`max_timelines_history`, 0 = all). */
  maxTimelinesHistory: number;
  /** Maintenance mode (`pause`): no automatic start, stop, promotion, demotion or failover. */
  pause: boolean;
  /**
   * `failsafe_mode` (default false): with the DCS unreachable, a primary that every member of the
   * `failsafe` topology acknowledges keeps running instead of demoting.
   */
  failsafeMode: boolean;
  /** `postgresql.use_slots` (default true): the primary keeps a replication slot per member. */
  useSlots: boolean;
  /** `postgresql.use_pg_rewind` (default false). */
  usePgRewind: boolean;
  /** `postgresql.remove_data_directory_on_rewind_failure` (default false). */
  removeDataDirectoryOnRewindFailure: boolean;
  /** `postgresql.remove_data_directory_on_diverged_timelines` (default false). */
  removeDataDirectoryOnDivergedTimelines: boolean;
  /**
   * Seconds before the lease certainly ends at which the lock holder stops PostgreSQL if it could
   * not renew (the safety deadline, safety.ts). Default 5, at most a third of the ttl.
   */
  safetyMargin: number;
  /** This node may initialise a new cluster (its YAML has a `bootstrap` section). */
  canBootstrap: boolean;
  /** What the leader writes to the `config` key when it is missing (Patroni: `bootstrap.dcs`). */
  bootstrapDcs: ClusterConfig;
  /**
   * `synchronous_mode`: `off`, `on` (priority commit: `N (a,b)`) or `quorum` (`ANY k (a,b,c)`).
   * YAML booleans and `true`/`false` strings map to on/off.
   */
  synchronousMode: SynchronousMode;
  /** `synchronous_mode_strict`: with no synchronous standby, commits wait (`synchronous_standby_names = '*'`). */
  synchronousModeStrict: boolean;
  /** `synchronous_node_count` (default 1): how many synchronous standbys (on) or acknowledgements (quorum). */
  synchronousNodeCount: number;
  /** `maximum_lag_on_syncnode` in bytes: a standby further behind is not made synchronous; -1 (default) = no limit. */
  maximumLagOnSyncnode: number;
  /** `slots`: permanent slots (physical, or logical with database and plugin). Malformed entries are skipped with a warning. */
  permanentSlots: SlotSpec[];
  /** `ignore_slots`: slots matching one of these are never created, dropped or advanced. */
  ignoreSlots: IgnoreSlotRule[];
  /** `member_slots_ttl` in seconds (default 1800; 0 = drop at once): how long a gone member's slot is kept. */
  memberSlotsTtl: number;
  /**
   * `replica_not_streaming_timeout` (pgha's key; Patroni has none), seconds: how long a replica
   * may go without streaming from its upstream before it is reported unhealthy and repaired
   * (wal-receiver.ts). Null = the default, ttl + loop_wait; 0 = off.
   */
  replicaNotStreamingTimeout: number | null;
  /** `standby_cluster`: replicate from another cluster's primary; null = a normal cluster. */
  standbyCluster: StandbyClusterConfig | null;
  /**
   * The local `patroni_compatibility`: the Patroni names (3 or 4) to use whatever the other
   * members show; null = detect them (patroni-dialect.ts).
   */
  patroniCompatibility: PatroniDialect | null;
}

/** One `ignore_slots` entry: a slot matches when every attribute given is equal. */
export interface IgnoreSlotRule {
  name?: string;
  type?: string;
  database?: string;
  plugin?: string;
}

// `synchronous_mode` is read by the cluster rule of @pgha/dcs; re-exported for the engine's users.
export type { SynchronousMode };

/** The local settings the engine takes from the agent's YAML. */
export interface LocalEngineSettings {
  /** `bootstrap.dcs`; written to the DCS `config` key and used while that key is missing. */
  bootstrapDcs?: ClusterConfig;
  /** The YAML has a `bootstrap` section (default true). */
  canBootstrap?: boolean;
  /** The local `postgresql:` section (only the keys listed in EngineConfig are read). */
  postgresql?: Record<string, unknown>;
  /**
   * `postgresql.allow_dcs_commands` (default false): `standby_cluster.restore_command` and
   * `archive_cleanup_command` from the dynamic configuration apply (dcs-commands.ts).
   */
  allowDcsCommands?: boolean;
  /** Overrides the safety margin (seconds). */
  safetyMargin?: number;
  /** `patroni_compatibility` (pgha's key; Patroni has none): 3 or 4; absent = detect from the other members. */
  patroniCompatibility?: PatroniDialect | null;
}

export const ENGINE_DEFAULTS = {
  ttl: 30,
  loopWait: 10,
  retryTimeout: 10,
  maximumLagOnFailover: 1_048_576,
  primaryStartTimeout: 300,
  primaryStopTimeout: 0,
  checkTimeline: false,
  maxTimelinesHistory: 0,
  safetyMargin: 5,
  synchronousNodeCount: 1,
  maximumLagOnSyncnode: -1,
  memberSlotsTtl: 1800,
} as const;

/**
 * How long a primary's stop may take before PostgreSQL is killed, or null to wait as any stop
 * does. Patroni's rule: only with `primary_stop_timeout` > 0 and synchronous mode on — a primary
 * whose shutdown hangs on a synchronous standby that never confirms would otherwise hold the
 * switchover (and the writes waiting on it) for as long as the stop takes.
 */
export function primaryStopTimeoutMs(config: Pick<EngineConfig, 'primaryStopTimeout' | 'synchronousMode'>): number | null {
  return config.primaryStopTimeout > 0 && config.synchronousMode !== 'off' ? config.primaryStopTimeout * 1000 : null;
}

/** Merges dynamic and local settings into an EngineConfig; never throws. */
export function resolveEngineConfig(
  dynamic: ClusterConfig | null | undefined,
  local: LocalEngineSettings = {},
): { config: EngineConfig; warnings: string[] } {
  const warnings: string[] = [];
  const source = dynamic ?? local.bootstrapDcs ?? {};
  const pg = { ...objectOr(source['postgresql']), ...objectOr(local.postgresql) };

  const num = (key: string, fallback: number, min: number, from: Record<string, unknown> = source): number => {
    const v = from[key];
    if (v === undefined || v === null) return fallback;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n) && n >= min) return n;
    warnings.push(`config.${key}: expected a number >= ${min}, got ${showValue(v)}; using ${fallback}`);
    return fallback;
  };
  // A duration outside DURATION_LIMITS (config-bounds.ts) would become a timer Node cannot arm or a
  // DCS budget of milliseconds: it falls back to the default like a wrong-typed value.
  const seconds = (key: string, fallback: number): number => {
    const limit = DURATION_LIMITS[key] ?? { min: 0, max: Infinity };
    const n = num(key, fallback, limit.min);
    if (n <= limit.max) return n;
    warnings.push(`config.${key}: expected at most ${limit.max} seconds, got ${n}; using ${fallback}`);
    return fallback;
  };
  const bool = (key: string, fallback: boolean, from: Record<string, unknown>, path: string): boolean => {
    const v = from[key];
    if (v === undefined || v === null) return fallback;
    const flag = parseBool(v);
    if (flag !== null) return flag;
    warnings.push(`${path}.${key}: expected a boolean, got ${showValue(v)}; using ${fallback}`);
    return fallback;
  };

  const ttl = seconds('ttl', ENGINE_DEFAULTS.ttl);
  const askedLoopWait = seconds('loop_wait', ENGINE_DEFAULTS.loopWait);
  const askedRetryTimeout = seconds('retry_timeout', ENGINE_DEFAULTS.retryTimeout);
  const { loopWait, retryTimeout } = safeTiming(ttl, askedLoopWait, askedRetryTimeout, warnings);
  const lagLimit = lagOnFailover(source['maximum_lag_on_failover'], warnings);
  // The standby leader's restore and cleanup commands come from here: the command rule first.
  const standby = withoutDcsCommands({ standby_cluster: source['standby_cluster'] }, { allowDcsCommands: local.allowDcsCommands ?? false, localPostgresql: local.postgresql });
  for (const ignored of standby.ignored) warnings.push(ignored.message);
  const startTimeoutKey = source['primary_start_timeout'] !== undefined ? 'primary_start_timeout' : 'master_start_timeout';
  const stopTimeoutKey = source['primary_stop_timeout'] !== undefined ? 'primary_stop_timeout' : 'master_stop_timeout';
  const requestedMargin = local.safetyMargin ?? ENGINE_DEFAULTS.safetyMargin;

  return {
    config: {
      ttl,
      loopWait,
      retryTimeout,
      maximumLagOnFailover: 'bytes' in lagLimit ? lagLimit.bytes : Number.MAX_SAFE_INTEGER,
      maximumReplayLagOnFailover: 'seconds' in lagLimit ? lagLimit.seconds : null,
      primaryStartTimeout: seconds(startTimeoutKey, ENGINE_DEFAULTS.primaryStartTimeout),
      primaryStopTimeout: seconds(stopTimeoutKey, ENGINE_DEFAULTS.primaryStopTimeout),
      checkTimeline: bool('check_timeline', ENGINE_DEFAULTS.checkTimeline, source, 'config'),
      maxTimelinesHistory: num('max_timelines_history', ENGINE_DEFAULTS.maxTimelinesHistory, 0),
      pause: bool('pause', false, source, 'config'),
      failsafeMode: bool('failsafe_mode', false, source, 'config'),
      useSlots: bool('use_slots', true, pg, 'postgresql'),
      usePgRewind: bool('use_pg_rewind', false, pg, 'postgresql'),
      removeDataDirectoryOnRewindFailure: bool('remove_data_directory_on_rewind_failure', false, pg, 'postgresql'),
      removeDataDirectoryOnDivergedTimelines: bool('remove_data_directory_on_diverged_timelines', false, pg, 'postgresql'),
      // A margin larger than a third of the ttl would fence a healthy leader between two renewals.
      safetyMargin: Math.max(0, Math.min(requestedMargin, ttl / 3)),
      canBootstrap: local.canBootstrap ?? true,
      bootstrapDcs: local.bootstrapDcs ?? {},
      synchronousMode: synchronousModeOf(source['synchronous_mode'], warnings),
      synchronousModeStrict: bool('synchronous_mode_strict', false, source, 'config'),
      synchronousNodeCount: Math.floor(num('synchronous_node_count', ENGINE_DEFAULTS.synchronousNodeCount, 1)),
      maximumLagOnSyncnode: lagOnSyncnode(source['maximum_lag_on_syncnode'], warnings),
      permanentSlots: permanentSlotsOf(source['slots'], warnings),
      ignoreSlots: ignoreSlotsOf(source['ignore_slots'], warnings),
      memberSlotsTtl: durationSeconds(source['member_slots_ttl'], ENGINE_DEFAULTS.memberSlotsTtl, 'config.member_slots_ttl', warnings),
      replicaNotStreamingTimeout:
        source['replica_not_streaming_timeout'] === undefined || source['replica_not_streaming_timeout'] === null
          ? null
          : durationSeconds(source['replica_not_streaming_timeout'], ttl + loopWait, 'config.replica_not_streaming_timeout', warnings),
      standbyCluster: standbyClusterOf(standby.config['standby_cluster'], warnings),
      patroniCompatibility: local.patroniCompatibility ?? null,
    },
    warnings,
  };
}

/** The three durations that time the DCS session. */
export interface EngineTiming {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

/**
 * ttl, loop_wait and retry_timeout as the engine would run on `dynamic` (bounds, defaults and the
 * `loop_wait + 2*retry_timeout <= ttl` correction of resolveEngineConfig): what the agent opens
 * its DCS session with before the first cycle has read the `config` key, so that the session is
 * never timed by values the engine itself would refuse. Warnings are left to the first cycle.
 */
export function engineTiming(dynamic: ClusterConfig | null | undefined): EngineTiming {
  const { ttl, loopWait, retryTimeout } = resolveEngineConfig(dynamic).config;
  return { ttl, loopWait, retryTimeout };
}

function synchronousModeOf(v: unknown, warnings: string[]): SynchronousMode {
  const mode = readSynchronousMode(v);
  if (mode !== null) return mode;
  warnings.push(`config.synchronous_mode: expected on, off or quorum, got ${showValue(v)}; using off`);
  return 'off';
}

/** `maximum_lag_on_failover` from the dynamic configuration; a bad value warns and falls back to 1 MiB. */
function lagOnFailover(v: unknown, warnings: string[]): FailoverLagLimit {
  if (v === undefined || v === null) return { bytes: ENGINE_DEFAULTS.maximumLagOnFailover };
  const parsed = parseMaximumLagOnFailover(v);
  const tooLong = parsed.ok && 'seconds' in parsed.limit ? outOfRange('maximum_lag_on_failover', parsed.limit.seconds) : null;
  if (tooLong) {
    warnings.push(`config.${tooLong}; using ${ENGINE_DEFAULTS.maximumLagOnFailover} bytes`);
    return { bytes: ENGINE_DEFAULTS.maximumLagOnFailover };
  }
  if (parsed.ok) return parsed.limit;
  warnings.push(`config.maximum_lag_on_failover: ${parsed.error}; using ${ENGINE_DEFAULTS.maximumLagOnFailover}`);
  return { bytes: ENGINE_DEFAULTS.maximumLagOnFailover };
}

/** Bytes; any negative value (Patroni's -1) turns the limit off. */
function lagOnSyncnode(v: unknown, warnings: string[]): number {
  if (v === undefined || v === null) return ENGINE_DEFAULTS.maximumLagOnSyncnode;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n === 'number' && Number.isFinite(n)) return n < 0 ? -1 : n;
  warnings.push(`config.maximum_lag_on_syncnode: expected a number of bytes (-1 = no limit), got ${showValue(v)}; using -1`);
  return -1;
}

/**
 * `slots: {name: {type: physical}}` or `{name: {type: logical, database, plugin}}` (a `type` left
 * out is logical when `database` or `plugin` is given). Malformed entries are skipped, each with a
 * warning pushed onto `warnings`.
 */
export function permanentSlotsOf(v: unknown, warnings: string[] = []): SlotSpec[] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object' || Array.isArray(v)) {
    warnings.push(`config.slots: expected a mapping of slot name to {type, database, plugin}, got ${showValue(v)}; ignored`);
    return [];
  }
  const slots: SlotSpec[] = [];
  for (const [name, raw] of Object.entries(v as Record<string, unknown>)) {
    const entry = objectOr(raw);
    const type = entry['type'] ?? (entry['database'] !== undefined || entry['plugin'] !== undefined ? 'logical' : 'physical');
    if (!/^[a-z0-9_]{1,63}$/.test(name)) {
      warnings.push(`config.slots.${name}: a slot name is lower-case letters, digits and _ (at most 63); ignored`);
    } else if (type === 'physical') {
      slots.push({ name, type: 'physical' });
    } else if (type === 'logical' && typeof entry['database'] === 'string' && typeof entry['plugin'] === 'string') {
      slots.push({ name, type: 'logical', database: entry['database'], plugin: entry['plugin'] });
    } else {
      warnings.push(`config.slots.${name}: expected {type: physical} or {type: logical, database, plugin}, got ${showValue(raw)}; ignored`);
    }
  }
  return slots.sort((a, b) => a.name.localeCompare(b.name));
}

function ignoreSlotsOf(v: unknown, warnings: string[]): IgnoreSlotRule[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    warnings.push(`config.ignore_slots: expected a list of {name, type, database, plugin}, got ${showValue(v)}; ignored`);
    return [];
  }
  const rules: IgnoreSlotRule[] = [];
  v.forEach((raw, i) => {
    const entry = objectOr(raw);
    const rule: IgnoreSlotRule = {};
    for (const key of ['name', 'type', 'database', 'plugin'] as const) {
      const value = entry[key];
      if (typeof value === 'string') rule[key] = value;
    }
    // An entry without attributes would match every slot: almost certainly a typo.
    if (Object.keys(rule).length === 0) warnings.push(`config.ignore_slots[${i}]: expected at least one of name, type, database, plugin; ignored`);
    else rules.push(rule);
  });
  return rules;
}

const durationUnits: Record<string, number> = { ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 };

/** Seconds from a number (seconds) or a PostgreSQL-style duration string (`30min`, `90s`, `1h`). */
function durationSeconds(v: unknown, fallback: number, path: string, warnings: string[]): number {
  if (v === undefined || v === null) return fallback;
  let n: number | null = null;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) n = v;
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/.exec(v);
    if (m) n = Number(m[1]) * (durationUnits[m[2] ?? 's'] ?? 1);
  }
  const tooLong = n === null ? null : outOfRange(path.replace(/^config\./, ''), n);
  if (n !== null && !tooLong) return n;
  warnings.push(`${path}: expected seconds or a duration such as 30min${tooLong ? ` (${tooLong})` : ''}, got ${showValue(v)}; using ${fallback}`);
  return fallback;
}

function objectOr(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * Enforces `loop_wait + 2*retry_timeout <= ttl` (Patroni 3.2+): past it, a leader whose DCS
 * calls are slow can lose its key between two renewals and a healthy cluster fails over. The
 * stored value is left as written; the agent runs with a shortened loop_wait, and when even a
 * one-second loop does not fit, a shortened retry_timeout too.
 */
function safeTiming(ttl: number, loopWait: number, retryTimeout: number, warnings: string[]): { loopWait: number; retryTimeout: number } {
  if (loopWait + 2 * retryTimeout <= ttl) return { loopWait, retryTimeout };
  const rule = `config: the rule "loop_wait + 2*retry_timeout <= ttl" is violated (ttl ${ttl}, loop_wait ${loopWait}, retry_timeout ${retryTimeout})`;
  const shortestLoop = Math.min(1, loopWait);
  if (shortestLoop + 2 * retryTimeout > ttl) {
    const adjusted = { loopWait: shortestLoop, retryTimeout: Math.max(DURATION_LIMITS['retry_timeout']?.min ?? 1, Math.floor(((ttl - shortestLoop) / 2) * 100) / 100) };
    warnings.push(`${rule}; running with loop_wait ${adjusted.loopWait} and retry_timeout ${adjusted.retryTimeout}`);
    return adjusted;
  }
  const adjusted = { loopWait: ttl - 2 * retryTimeout, retryTimeout };
  warnings.push(`${rule}; running with loop_wait ${adjusted.loopWait}`);
  return adjusted;
}
