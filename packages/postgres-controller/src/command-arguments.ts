/**
 * Argument lists for the external programs: initdb options, pg_basebackup options, and the
 * Patroni calling convention of custom bootstrap and replica creation methods. Pure.
 */
import type { CommandOptions, MethodSettings } from './config.js';

/** Keys of a method's settings that configure the method itself rather than becoming `--key=value`. */
const METHOD_KEYS = new Set(['command', 'keep_data', 'no_params', 'no_leader', 'keep_existing_recovery_conf', 'recovery_conf']);

function flag(name: string): string {
  return name.startsWith('-') ? name : `--${name}`;
}

function renderOptionValue(value: string | number | boolean): string {
  return typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
}

/**
 * Renders Patroni-style options: a list of bare names (`data-checksums` → `--data-checksums`) and
 * one-key maps (`{encoding: UTF8}` → `--encoding=UTF8`), or a plain map.
 */
export function optionArguments(options: CommandOptions | undefined): string[] {
  if (options === undefined) return [];
  const items = Array.isArray(options) ? options : [options];
  const args: string[] = [];
  for (const item of items) {
    if (typeof item === 'string') args.push(flag(item));
    else for (const [k, v] of Object.entries(item)) args.push(`${flag(k)}=${renderOptionValue(v)}`);
  }
  return args;
}

/** The option names given (without dashes), to check whether the user set one already. */
export function optionNames(args: readonly string[]): Set<string> {
  return new Set(args.map((a) => a.replace(/^-+/, '').replace(/=.*$/, '')));
}

/** `--key=value` for a method's extra settings (keys Patroni does not interpret itself). */
export function methodExtraArguments(settings: MethodSettings): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (METHOD_KEYS.has(k) || v === undefined || v === null) continue;
    if (typeof v === 'object') continue; // nested maps have no command-line form
    args.push(`--${k}=${renderOptionValue(v as string | number | boolean)}`);
  }
  return args;
}

/** Arguments of a custom replica creation method: `--scope --role=replica --datadir --connstring` plus extras. */
export function replicaMethodArguments(settings: MethodSettings, base: { scope: string; dataDir: string; connstring: string | null }): string[] {
  if (settings.no_params) return [];
  const args = [`--scope=${base.scope}`, '--role=replica', `--datadir=${base.dataDir}`];
  if (base.connstring !== null) args.push(`--connstring=${base.connstring}`);
  return [...args, ...methodExtraArguments(settings)];
}

/** Arguments of a custom bootstrap method: `--scope --datadir` plus extras. */
export function bootstrapMethodArguments(settings: MethodSettings, base: { scope: string; dataDir: string }): string[] {
  if (settings.no_params) return [];
  return [`--scope=${base.scope}`, `--datadir=${base.dataDir}`, ...methodExtraArguments(settings)];
}
