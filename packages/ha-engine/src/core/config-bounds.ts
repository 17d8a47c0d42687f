/**
 * The one place that says which values of the dynamic configuration (`config` key, `bootstrap.dcs`)
 * are acceptable. PATCH/PUT /config, `pghactl edit-config`, the YAML schema and the engine's own
 * resolution all check against these tables, so an operator's typo is refused the same way
 * wherever it is typed, and a value written behind pgha's back (etcdctl, zkCli) is recognised as
 * invalid by the same rule.
 *
 * Why bounds on durations: every duration becomes a timer or a DCS deadline. Node runs a timer
 * longer than 2^31 − 1 ms (about 24.8 days) after 1 ms, so `ttl: 1e7` would make every DCS call
 * fail at once; and a tiny `ttl` leaves a DCS budget of milliseconds. The minimums allow the fast
 * profile (ttl 4, loop_wait 1, retry_timeout 1); Patroni's are 20 / 1 / 3.
 */

/** Inclusive bounds of a duration, in seconds. */
export interface DurationLimit {
  min: number;
  max: number;
}

const WEEK = 7 * 86_400;

/**
 * Every duration key of the dynamic configuration, seconds. The maxima stay well under the Node
 * timer limit (2 147 483 s) so that no derived deadline can overflow either.
 */
export const DURATION_LIMITS: Readonly<Record<string, DurationLimit>> = {
  ttl: { min: 4, max: 86_400 },
  loop_wait: { min: 1, max: 3_600 },
  retry_timeout: { min: 1, max: 3_600 },
  primary_start_timeout: { min: 0, max: WEEK },
  master_start_timeout: { min: 0, max: WEEK },
  primary_stop_timeout: { min: 0, max: WEEK },
  master_stop_timeout: { min: 0, max: WEEK },
  /** Compared with timestamps, never armed as a timer; 30 days is far beyond any real need. */
  member_slots_ttl: { min: 0, max: 30 * 86_400 },
  /** Compared with the clock, never armed as a timer; 0 turns the check off (wal-receiver.ts). */
  replica_not_streaming_timeout: { min: 0, max: 86_400 },
  /** `maximum_lag_on_failover` in its duration form (`10s`); the byte form has no upper bound. */
  maximum_lag_on_failover: { min: 0, max: 86_400 },
};

/** `watchdog.safety_margin` (local YAML): seconds, or -1 for ttl/2. */
export const SAFETY_MARGIN_LIMIT: DurationLimit = { min: 0, max: 3_600 };

/** A bounds check: null when `seconds` is inside the limit of `key`, else the reason. */
export function outOfRange(key: string, seconds: number): string | null {
  const limit = DURATION_LIMITS[key];
  if (!limit || (seconds >= limit.min && seconds <= limit.max)) return null;
  return `${key}: must be between ${limit.min} and ${limit.max} seconds, got ${seconds}`;
}

/**
 * A value for a warning or an error message: JSON, cut to 80 characters. Never throws — a value
 * nested too deeply for JSON.stringify (a hostile DCS value) is described by its type instead.
 */
export function showValue(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  if (text === undefined) return Array.isArray(v) ? 'an array' : typeof v;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `maximum_lag_on_failover`: bytes (a bare number, Patroni's form) or a replay time in seconds. */
export type FailoverLagLimit = { bytes: number } | { seconds: number };

const lagUnits: Record<string, number> = { ms: 0.001, s: 1, min: 60, h: 3600 };

/**
 * Parses a `maximum_lag_on_failover` value: a non-negative number (or numeric string) is bytes; a
 * duration with a unit (`500ms`, `10s`, `2min`, `1h`) is a replay-time limit. Returns why it is
 * not one of those otherwise (for YAML validation, PATCH /config and the DCS warning alike).
 */
export function parseMaximumLagOnFailover(v: unknown): { ok: true; limit: FailoverLagLimit } | { ok: false; error: string } {
  const expected = 'expected a number of bytes or a duration such as 500ms, 10s or 2min';
  if (typeof v === 'number') {
    if (Number.isFinite(v) && v >= 0) return { ok: true, limit: { bytes: v } };
    return { ok: false, error: `${expected}, got ${String(v)}${v < 0 ? ' (it must not be negative)' : ''}` };
  }
  if (typeof v === 'string') {
    const text = v.trim();
    if (/^-/.test(text)) return { ok: false, error: `${expected}, got ${showValue(v)} (it must not be negative)` };
    if (/^\d+(\.\d+)?$/.test(text)) return { ok: true, limit: { bytes: Number(text) } };
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|min|h)$/.exec(text);
    if (m) return { ok: true, limit: { seconds: Number(m[1]) * (lagUnits[m[2] as string] ?? 1) } };
  }
  return { ok: false, error: `${expected}, got ${showValue(v)}` };
}

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

const durationUnits: Record<string, number> = { ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 };

/** Seconds from a number or a numeric / PostgreSQL-style duration string (`30min`); null if neither. */
export function secondsOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(-?\d+(?:\.\d+)?(?:e\d+)?)\s*(ms|s|min|h|d)?\s*$/i.exec(v);
  return m ? Number(m[1]) * (durationUnits[(m[2] ?? 's').toLowerCase()] ?? 1) : null;
}

/**
 * The first timing key of `config` that is outside DURATION_LIMITS (or not a duration at all),
 * named with its problem; null when every timing key present is acceptable. This is what makes
 * the engine keep its last good configuration when a stored value is out of range.
 */
export function timingProblem(config: Tree): string | null {
  for (const key of Object.keys(DURATION_LIMITS)) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    if (key === 'maximum_lag_on_failover') {
      // Only its duration form is a duration (bytes have no bound); a malformed value is a type
      // error, reported by dynamicConfigProblem and ignored key by key by the engine.
      const parsed = parseMaximumLagOnFailover(v);
      const problem = parsed.ok && 'seconds' in parsed.limit ? outOfRange(key, parsed.limit.seconds) : null;
      if (problem) return problem;
      continue;
    }
    const seconds = secondsOf(v);
    if (seconds === null) return `${key}: expected a number of seconds, got ${showValue(v)}`;
    const problem = outOfRange(key, seconds);
    if (problem) return problem;
  }
  return null;
}

/**
 * A PostgreSQL configuration parameter name (GUC): an identifier, or `class.name` for an
 * extension's custom parameter. Anything else — a newline, `=`, a quote — could inject lines
 * into postgresql.conf.
 */
export const GUC_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/** Why a parameter value cannot be written as one postgresql.conf line; null when it can. */
export function parameterValueProblem(v: unknown): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : 'expected a finite number';
  if (typeof v === 'boolean') return null;
  if (typeof v === 'string') return /[\r\n\0]/.test(v) ? 'a value must not contain a line break or NUL' : null;
  return `expected a string, number or boolean, got ${showValue(v)}`;
}

/** The first problem of the dynamic `postgresql` section, by key path; null when it is usable. */
export function postgresqlSectionProblem(pg: unknown, path = 'postgresql'): string | null {
  if (pg === undefined) return null;
  if (!isTree(pg)) return `${path}: expected an object`;
  for (const section of ['parameters', 'recovery_conf']) {
    const params = pg[section];
    if (params === undefined || params === null) continue;
    if (!isTree(params)) return `${path}.${section}: expected an object`;
    for (const [name, value] of Object.entries(params)) {
      if (!GUC_NAME.test(name)) return `${path}.${section}.${showValue(name)}: not a valid parameter name`;
      // null deletes a parameter in PATCH /config; the merged value never holds one.
      const problem = value === null ? null : parameterValueProblem(value);
      if (problem) return `${path}.${section}.${name}: ${problem}`;
    }
  }
  for (const list of ['pg_hba', 'pg_ident']) {
    const v = pg[list];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || !v.every((line) => typeof line === 'string')) return `${path}.${list}: expected a list of strings`;
    const bad = v.findIndex((line: string) => /[\r\n\0]/.test(line));
    if (bad >= 0) return `${path}.${list}[${bad}]: a line must not contain a line break or NUL`;
  }
  return null;
}

const NUMERIC_KEYS = ['maximum_lag_on_syncnode', 'max_timelines_history', 'synchronous_node_count'];
const BOOLEAN_KEYS = ['pause', 'failsafe_mode', 'check_timeline', 'synchronous_mode_strict'];
const OBJECT_KEYS = ['standby_cluster', 'slots'];

/**
 * The first invalid field of a whole dynamic configuration, named by its key path (`ttl: must be
 * between 4 and 86400 seconds, got 10000000`); null when valid. Used before every write, so
 * nothing that would break a member's next cycle reaches the DCS through pgha.
 */
export function dynamicConfigProblem(config: Tree): string | null {
  const timing = timingProblem(config);
  if (timing) return timing;
  for (const key of NUMERIC_KEYS) {
    const v = config[key];
    // -1 is Patroni's "off" for maximum_lag_on_syncnode (and its default).
    const floor = key === 'maximum_lag_on_syncnode' ? -1 : 0;
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= floor) && !(typeof v === 'string' && /^-?\d+$/.test(v) && Number(v) >= floor)) {
      return floor < 0 ? `${key}: expected -1 (off) or a non-negative number` : `${key}: expected a non-negative number`;
    }
  }
  // Bytes as in Patroni, or (pgha) a replay time such as `10s`.
  const lag = config['maximum_lag_on_failover'];
  if (lag !== undefined) {
    const parsed = parseMaximumLagOnFailover(lag);
    if (!parsed.ok) return `maximum_lag_on_failover: ${parsed.error}`;
  }
  for (const key of BOOLEAN_KEYS) {
    const v = config[key];
    if (v !== undefined && typeof v !== 'boolean') return `${key}: expected true or false`;
  }
  for (const key of OBJECT_KEYS) {
    const v = config[key];
    if (v !== undefined && !isTree(v)) return `${key}: expected an object`;
  }
  const pg = postgresqlSectionProblem(config['postgresql']);
  if (pg) return pg;
  const mode = config['synchronous_mode'];
  if (mode !== undefined && typeof mode !== 'boolean' && !['on', 'off', 'quorum', 'true', 'false'].includes(String(mode))) {
    return 'synchronous_mode: expected on, off or quorum';
  }
  return null;
}
