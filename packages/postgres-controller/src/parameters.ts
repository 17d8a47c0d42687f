/**
 * Which GUCs PostgreSQL runs with. Three layers, as in Patroni: the dynamic configuration in the
 * DCS, overridden by the local `postgresql.parameters`, except the DCS-only parameters, which
 * must agree across the cluster for replicas to run, so they come from the DCS alone (with
 * defaults and lower bounds). A few are forced by the controller itself (listen address, port,
 * cluster name, file locations).
 */
import type { ParameterValue } from './config.js';

interface DcsOnlyParameter {
  /** Default for the server version (an integer like 150004). */
  defaultValue: (serverVersion: number) => string;
  /** Returns the value to use, or null when invalid (the default is used instead, with a warning). */
  validate: (value: string) => string | null;
  /** Postmaster-context parameters also go on the postgres command line. */
  commandLine: boolean;
  /** Only for these server versions. */
  appliesTo?: (serverVersion: number) => boolean;
}

function atLeast(min: number): (value: string) => string | null {
  return (value) => {
    const n = Number(value);
    return Number.isInteger(n) && n >= min ? String(n) : null;
  };
}

function oneOf(...allowed: string[]): (value: string) => string | null {
  return (value) => (allowed.includes(value.toLowerCase()) ? value.toLowerCase() : null);
}

const asBoolean = (value: string): string | null => normalizeBoolean(value);

/** The parameters Patroni takes only from the DCS (patroni.md §4), with their defaults and bounds. */
export const DCS_ONLY_PARAMETERS: Readonly<Record<string, DcsOnlyParameter>> = {
  max_connections: { defaultValue: () => '100', validate: atLeast(25), commandLine: true },
  max_locks_per_transaction: { defaultValue: () => '64', validate: atLeast(32), commandLine: true },
  max_worker_processes: { defaultValue: () => '8', validate: atLeast(2), commandLine: true },
  max_prepared_transactions: { defaultValue: () => '0', validate: atLeast(0), commandLine: true },
  wal_level: { defaultValue: () => 'replica', validate: oneOf('hot_standby', 'replica', 'logical'), commandLine: true },
  track_commit_timestamp: { defaultValue: () => 'off', validate: asBoolean, commandLine: true },
  max_wal_senders: { defaultValue: () => '10', validate: atLeast(3), commandLine: true },
  max_replication_slots: { defaultValue: () => '10', validate: atLeast(4), commandLine: true },
  wal_log_hints: { defaultValue: () => 'on', validate: asBoolean, commandLine: true },
  // wal_keep_* can change on reload, so they stay in the file: a command-line value would pin them.
  wal_keep_segments: { defaultValue: () => '8', validate: atLeast(0), commandLine: false, appliesTo: (v) => v < 130000 },
  wal_keep_size: {
    defaultValue: () => '128MB',
    validate: (v) => (v.trim() === '' ? null : v.trim()),
    commandLine: false,
    appliesTo: (v) => v >= 130000,
  },
};

/** Parameters the controller sets itself; a user value for them is ignored with a warning. */
const CONTROLLED = new Set(['listen_addresses', 'port', 'cluster_name', 'hot_standby', 'hba_file', 'ident_file', 'data_directory', 'config_file']);

/** Recovery parameters (PostgreSQL 12+ GUCs) that only the standby configuration writes. */
export const RECOVERY_PARAMETERS = new Set([
  'primary_conninfo',
  'primary_slot_name',
  'restore_command',
  'archive_cleanup_command',
  'recovery_end_command',
  'recovery_min_apply_delay',
  'recovery_target',
  'recovery_target_lsn',
  'recovery_target_name',
  'recovery_target_time',
  'recovery_target_xid',
  'recovery_target_inclusive',
  'recovery_target_timeline',
  'recovery_target_action',
  'promote_trigger_file',
]);

/** Renders a YAML value as PostgreSQL's text form (booleans as on/off). */
export function renderParameterValue(value: ParameterValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

/** `on` / `off` for PostgreSQL's accepted boolean spellings, null for anything else. */
export function normalizeBoolean(value: string): string | null {
  const s = value.trim().toLowerCase();
  if (['on', 'true', 'yes', '1', 't', 'y'].includes(s)) return 'on';
  if (['off', 'false', 'no', '0', 'f', 'n'].includes(s)) return 'off';
  return null;
}

/**
 * A setting in a form two spellings of the same value share, for deciding whether a DCS-only
 * value differs from what the postmaster runs with (`pg_settings.setting`).
 */
export function comparableSetting(name: string, value: string): string {
  if (name === 'wal_level') {
    const v = value.toLowerCase();
    return v === 'hot_standby' || v === 'archive' ? 'replica' : v;
  }
  return normalizeBoolean(value) ?? value.trim();
}

/**
 * A configuration parameter name PostgreSQL accepts: an identifier, or `class.name` for an
 * extension's custom parameter. Anything else (a newline, `=`, `#`, a quote) could put a second
 * line into postgresql.conf. (@pgha/ha-engine's config-bounds.ts checks PATCH /config with the
 * same rule; the two packages do not depend on each other.)
 */
export const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

export function isParameterName(name: string): boolean {
  return PARAMETER_NAME.test(name);
}

/** Why a value cannot be written as one postgresql.conf line; null when it can. */
export function parameterValueProblem(v: unknown): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : 'expected a finite number';
  if (typeof v === 'boolean') return null;
  if (typeof v === 'string') return /[\r\n\0]/.test(v) ? 'a value must not contain a line break or NUL' : null;
  return 'expected a string, number or boolean';
}

/** `'value'` quoted for postgresql.conf. */
export function quoteConfValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export interface ParameterInputs {
  /** `server_version_num` of the binaries, e.g. 150004. */
  serverVersion: number;
  dynamic?: Record<string, ParameterValue> | undefined;
  local?: Record<string, ParameterValue> | undefined;
  listenAddresses: string;
  port: number;
  clusterName: string;
  /** Set last, over everything else (file locations, synchronous_standby_names). */
  forced?: Record<string, string>;
  /**
   * Lower bounds for integer DCS-only parameters. A replica must run with at least the primary's
   * values, which its pg_control records (REPLICA_MINIMUM_SOURCES).
   */
  minimums?: Record<string, number>;
}

/** The pg_controldata labels holding the primary's values a hot standby may not go below. */
export const REPLICA_MINIMUM_SOURCES: Readonly<Record<string, string>> = {
  max_connections: 'max_connections setting',
  max_worker_processes: 'max_worker_processes setting',
  max_wal_senders: 'max_wal_senders setting',
  max_prepared_transactions: 'max_prepared_xacts setting',
  max_locks_per_transaction: 'max_locks_per_xact setting',
};

export interface EffectiveParameters {
  /** Every parameter written to postgresql.conf, in writing order (sorted by name). */
  file: Map<string, string>;
  /** The subset also passed on the postgres command line (postmaster-context DCS-only ones and the forced ones). */
  commandLine: Map<string, string>;
  /** What was ignored or replaced, for the log. */
  warnings: string[];
}

/** A size in megabytes as PostgreSQL reads a MB-based setting (`1GB`, `512MB`, `2048kB`, a bare number in MB); null when it is none. */
export function megabytesOf(value: ParameterValue): number | null {
  const m = /^\s*(\d+)\s*(kB|MB|GB|TB)?\s*$/.exec(String(value));
  if (!m) return null;
  const factor = { kB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 }[m[2] ?? 'MB']!;
  return Math.floor(Number(m[1]) * factor);
}

/**
 * PostgreSQL 13 replaced wal_keep_segments by wal_keep_size. As Patroni does, the one the server
 * lacks is computed from the other (16 MB segments), so a cluster's dynamic configuration keeps
 * its meaning across versions: `wal_keep_segments: 1000` on PostgreSQL 15 keeps 16000MB, not the
 * 128MB default. A value given under the server's own name wins.
 */
export function withWalKeepConverted(dynamic: Record<string, ParameterValue>, serverVersion: number): Record<string, ParameterValue> {
  const out = { ...dynamic };
  if (serverVersion >= 130000) {
    const segments = out['wal_keep_segments'];
    if (out['wal_keep_size'] === undefined && segments !== undefined && /^\s*\d+\s*$/.test(String(segments))) out['wal_keep_size'] = `${Number(segments) * 16}MB`;
  } else {
    const mb = out['wal_keep_size'] === undefined ? null : megabytesOf(out['wal_keep_size']);
    if (out['wal_keep_segments'] === undefined && mb !== null) out['wal_keep_segments'] = String(Math.floor((mb + 8) / 16));
  }
  return out;
}

/** Merges the layers into the parameters PostgreSQL runs with. Pure. */
export function effectiveParameters(inputs: ParameterInputs): EffectiveParameters {
  const warnings: string[] = [];
  const values = new Map<string, string>();
  const commandLine = new Map<string, string>();

  // Every value becomes one postgresql.conf line: a name or value that could break out of it is
  // dropped here whatever validated it before (schema, DCS sanitizer).
  const unsafe = (layer: string, name: string, value: unknown): boolean => {
    const problem = isParameterName(name) ? parameterValueProblem(value) : 'not a valid parameter name';
    if (problem) warnings.push(`Removing unexpected parameter=${JSON.stringify(name)} from the ${layer} configuration: ${problem}`);
    return problem !== null;
  };
  for (const [name, value] of Object.entries(inputs.dynamic ?? {})) {
    if (CONTROLLED.has(name) || RECOVERY_PARAMETERS.has(name) || unsafe('dynamic', name, value)) continue;
    values.set(name, renderParameterValue(value));
  }
  for (const [name, value] of Object.entries(inputs.local ?? {})) {
    if (unsafe('local', name, value)) continue;
    if (name in DCS_ONLY_PARAMETERS) {
      warnings.push(`postgresql.parameters.${name} is ignored: it can only be set in the dynamic configuration (DCS)`);
      continue;
    }
    if (CONTROLLED.has(name)) {
      warnings.push(`postgresql.parameters.${name} is ignored: pgha sets it from postgresql.listen, scope or the file layout`);
      continue;
    }
    if (RECOVERY_PARAMETERS.has(name)) {
      warnings.push(`postgresql.parameters.${name} is ignored: recovery settings belong in postgresql.recovery_conf`);
      continue;
    }
    values.set(name, renderParameterValue(value));
  }
  const dynamic = withWalKeepConverted(inputs.dynamic ?? {}, inputs.serverVersion);
  for (const [name, spec] of Object.entries(DCS_ONLY_PARAMETERS)) {
    if (spec.appliesTo && !spec.appliesTo(inputs.serverVersion)) {
      values.delete(name);
      continue;
    }
    const given = dynamic[name];
    let value = spec.defaultValue(inputs.serverVersion);
    if (given !== undefined) {
      const valid = spec.validate(renderParameterValue(given));
      if (valid === null) warnings.push(`postgresql.parameters.${name} = ${renderParameterValue(given)} in the DCS is invalid; using ${value}`);
      else value = valid;
    }
    const minimum = inputs.minimums?.[name];
    if (minimum !== undefined && Number(value) < minimum) {
      warnings.push(`${name} = ${value} is below the primary's ${minimum}; using ${minimum} so the replica can run`);
      value = String(minimum);
    }
    values.set(name, value);
    if (spec.commandLine) commandLine.set(name, value);
  }
  const forced: Record<string, string> = {
    listen_addresses: inputs.listenAddresses,
    port: String(inputs.port),
    cluster_name: inputs.clusterName,
    hot_standby: 'on',
    ...inputs.forced,
  };
  for (const [name, value] of Object.entries(forced)) values.set(name, value);
  for (const name of ['listen_addresses', 'port', 'cluster_name', 'hot_standby']) commandLine.set(name, forced[name]!);

  const file = new Map([...values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { file, commandLine, warnings };
}

/** `--name=value` arguments for the postgres command line. */
export function commandLineArguments(params: Map<string, string>): string[] {
  return [...params.entries()].map(([name, value]) => `--${name}=${value}`);
}
