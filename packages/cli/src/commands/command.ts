/** The shape of a command, and the options several commands share. */
import type { OptionSpec, ParsedCommand } from '../args.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode } from '../errors.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../output.js';
import { ROLE_CHOICES, type RoleChoice } from '../cluster-view.js';

export interface CommandDefinition {
  name: string;
  help: string;
  /** Arguments as shown in usage: `[CLUSTER_NAME] [MEMBER_NAMES]...`. */
  args: string;
  options: readonly OptionSpec[];
  /** Resolves the exit status (0 when nothing failed). */
  run(ctx: CommandContext, parsed: ParsedCommand): Promise<number>;
}

export const FORMAT_OPTION: OptionSpec = { key: 'format', flags: ['-f', '--format'], kind: 'value', help: 'Output format (pretty, tsv, json, yaml)', choices: OUTPUT_FORMATS };
export const FORCE_OPTION: OptionSpec = { key: 'force', flags: ['--force'], kind: 'flag', help: 'Do not ask for confirmation at any point' };
export const GROUP_OPTION: OptionSpec = { key: 'group', flags: ['--group'], kind: 'value', help: 'Citus group (accepted for compatibility; pgha has no Citus support)' };
export const WATCH_FLAG: OptionSpec = { key: 'W', flags: ['-W'], kind: 'flag', help: 'Auto update the screen every 2 seconds' };
export const WATCH_OPTION: OptionSpec = { key: 'watch', flags: ['-w', '--watch'], kind: 'value', help: 'Auto update the screen every X seconds' };
export const roleOption = (help: string): OptionSpec => ({ key: 'role', flags: ['-r', '--role'], kind: 'value', help, choices: ROLE_CHOICES });

export function stringOpt(parsed: ParsedCommand, key: string): string | undefined {
  const v = parsed.options[key];
  return typeof v === 'string' ? v : undefined;
}

export function flagOpt(parsed: ParsedCommand, key: string): boolean {
  return parsed.options[key] === true;
}

export function listOpt(parsed: ParsedCommand, key: string): string[] {
  const v = parsed.options[key];
  return Array.isArray(v) ? v : [];
}

export function formatOpt(parsed: ParsedCommand, fallback: OutputFormat = 'pretty'): OutputFormat {
  return (stringOpt(parsed, 'format') as OutputFormat | undefined) ?? fallback;
}

export function roleOpt(parsed: ParsedCommand): RoleChoice | undefined {
  return stringOpt(parsed, 'role') as RoleChoice | undefined;
}

/** Seconds between refreshes for `-W` / `-w N`, or null for a single run. */
export function watchInterval(parsed: ParsedCommand): number | null {
  const w = stringOpt(parsed, 'watch');
  if (w !== undefined) {
    const n = Number(w);
    if (!Number.isFinite(n) || n <= 0) throw new CliError(CliErrorCode.Usage, `Invalid value for '-w' / '--watch': '${w}' is not a valid float.`);
    return n;
  }
  return flagOpt(parsed, 'W') ? 2 : null;
}

/** Takes at most `max` positionals, as click does for a command with fixed arguments. */
export function positionals(parsed: ParsedCommand, max: number, command: string): string[] {
  if (parsed.positionals.length > max) {
    throw new CliError(CliErrorCode.Usage, `Got unexpected extra argument (${parsed.positionals.slice(max).join(' ')}) for ${command}`);
  }
  return parsed.positionals;
}
