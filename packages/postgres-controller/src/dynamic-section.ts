/**
 * The `postgresql` part of the DCS `config` key, made safe before the controller uses it. Anyone
 * who can write the DCS (etcdctl, zkCli, an older tool) can put anything there, and the controller
 * writes it into postgresql.conf, pg_hba.conf and pg_ident.conf on every member. So, as Patroni
 * does ("Removing unexpected parameter"), a bad parameter is dropped with a warning and the rest is
 * kept; a bad pg_hba / pg_ident is ignored with a warning and the last good one stays. Nothing here
 * throws: a broken value must never stop a member from starting.
 *
 * Which commands may come from the DCS at all (`archive_command`, `recovery_conf.*_command`, ...;
 * `postgresql.allow_dcs_commands`) is not decided here: the agent applies that rule
 * (@pgha/ha-engine dcs-commands.ts) before it calls this, as this package depends on no other.
 */
import { parseBool } from '@pgha/primitives';
import type { DynamicPostgresql } from './config.js';
import { isParameterName, parameterValueProblem } from './parameters.js';

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

const BOOLEAN_KEYS = ['use_pg_rewind', 'use_slots', 'remove_data_directory_on_rewind_failure', 'remove_data_directory_on_diverged_timelines'] as const;

/** A value for a warning: JSON cut to 80 characters; never throws (deeply nested values). */
function show(v: unknown): string {
  try {
    const text = JSON.stringify(v) ?? typeof v;
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Array.isArray(v) ? 'an array' : typeof v;
  }
}

function flexibleBoolean(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  return typeof v === 'string' ? parseBool(v.trim()) : null;
}

/** Keeps the entries that render as exactly one `name = 'value'` line. */
function cleanParameters(v: unknown, path: string, lastGood: Tree | undefined, warnings: string[]): Tree | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isTree(v)) {
    warnings.push(`${path}: expected a mapping of parameter names to values, got ${show(v)}; ignored, keeping the last good value`);
    return lastGood;
  }
  const out: Tree = {};
  for (const [name, value] of Object.entries(v)) {
    const problem = isParameterName(name) ? parameterValueProblem(value) : 'not a valid parameter name';
    if (problem === null) out[name] = value;
    else warnings.push(`Removing unexpected parameter=${show(name)} value=${show(value)} from ${path}: ${problem}`);
  }
  return out;
}

function cleanLines(v: unknown, path: string, lastGood: readonly string[] | undefined, warnings: string[]): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const problem = !Array.isArray(v) || !v.every((line) => typeof line === 'string')
    ? `expected a list of lines, got ${show(v)}`
    : v.some((line: string) => /[\r\n\0]/.test(line))
      ? 'a line contains a line break or NUL'
      : null;
  if (problem === null) return v as string[];
  warnings.push(`${path}: ${problem}; ignored, keeping the last good value`);
  return lastGood === undefined ? undefined : [...lastGood];
}

/**
 * The usable part of a dynamic `postgresql` section. `lastGood` (the last section applied) supplies
 * pg_hba / pg_ident / parameters when the new ones are unusable as a whole.
 */
export function sanitizeDynamicPostgresql(value: unknown, lastGood: DynamicPostgresql = {}): { value: DynamicPostgresql; warnings: string[] } {
  const warnings: string[] = [];
  if (value === undefined || value === null) return { value: {}, warnings };
  if (!isTree(value)) {
    warnings.push(`config.postgresql: expected a mapping, got ${show(value)}; ignored, keeping the last good value`);
    return { value: lastGood, warnings };
  }
  const out: Tree = { ...value };
  const parameters = cleanParameters(value['parameters'], 'config.postgresql.parameters', lastGood.parameters, warnings);
  const recovery = cleanParameters(value['recovery_conf'], 'config.postgresql.recovery_conf', lastGood.recovery_conf, warnings);
  const hba = cleanLines(value['pg_hba'], 'config.postgresql.pg_hba', lastGood.pg_hba, warnings);
  const ident = cleanLines(value['pg_ident'], 'config.postgresql.pg_ident', lastGood.pg_ident, warnings);
  for (const [key, v] of [['parameters', parameters], ['recovery_conf', recovery], ['pg_hba', hba], ['pg_ident', ident]] as const) {
    if (v === undefined) delete out[key];
    else out[key] = v;
  }
  for (const key of BOOLEAN_KEYS) {
    const v = value[key];
    if (v === undefined || v === null) continue;
    const b = flexibleBoolean(v);
    if (b === null) {
      warnings.push(`config.postgresql.${key}: expected a boolean, got ${show(v)}; ignored`);
      delete out[key];
    } else out[key] = b;
  }
  return { value: out as DynamicPostgresql, warnings };
}
