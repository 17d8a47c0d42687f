/**
 * A small command-line parser shaped like click's: global options before the command, then the
 * command's options and arguments in any order, `--opt value` / `--opt=value` / `-o value`,
 * repeatable options, flags, and `--` to end options. Unknown commands or options are usage
 * errors (exit 2), as with patronictl.
 */
import { CliError, CliErrorCode } from './errors.js';

export interface OptionSpec {
  /** Key in `ParsedCommand.options`. */
  key: string;
  /** Every spelling: `-f`, `--format`. */
  flags: readonly string[];
  /** `flag`: boolean; `value`: one string; `multi`: repeatable, a list. */
  kind: 'flag' | 'value' | 'multi';
  help: string;
  /** Allowed values, when the option is a choice. */
  choices?: readonly string[];
}

export interface ParsedCommand {
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { key: 'configFile', flags: ['-c', '--config-file'], kind: 'value', help: 'Configuration file' },
  { key: 'dcsUrl', flags: ['-d', '--dcs-url', '--dcs'], kind: 'value', help: 'The DCS connect url (etcd3://host:port, zookeeper://host:port)' },
  { key: 'insecure', flags: ['-k', '--insecure'], kind: 'flag', help: 'Allow connections to SSL sites without certs' },
];

function findOption(specs: readonly OptionSpec[], flag: string): OptionSpec | undefined {
  return specs.find((s) => s.flags.includes(flag));
}

/**
 * Parses `argv` against `specs`. With `stopAtPositional`, parsing stops at the first non-option
 * (the command name) and the rest is returned untouched in `positionals`.
 */
export function parseOptions(argv: readonly string[], specs: readonly OptionSpec[], command: string, stopAtPositional = false): ParsedCommand {
  const options: ParsedCommand['options'] = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || (arg === '-h' && !findOption(specs, '-h'))) {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtPositional) {
        positionals.push(...argv.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    let spec = findOption(specs, flag);
    let inline: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    // `-fjson`: a short option with its value attached.
    if (!spec && !arg.startsWith('--') && arg.length > 2) {
      spec = findOption(specs, arg.slice(0, 2));
      if (spec && spec.kind !== 'flag') inline = arg.slice(2);
      else spec = undefined;
    }
    if (!spec) throw new CliError(CliErrorCode.Usage, `No such option: ${flag}${command ? ` (for ${command})` : ''}`);
    if (spec.kind === 'flag') {
      if (inline !== undefined) throw new CliError(CliErrorCode.Usage, `Option '${flag}' does not take a value.`);
      options[spec.key] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new CliError(CliErrorCode.Usage, `Option '${flag}' requires an argument.`);
      value = argv[++i]!;
    }
    if (spec.choices && !spec.choices.includes(value)) {
      throw new CliError(CliErrorCode.Usage, `Invalid value for '${spec.flags.join("' / '")}': '${value}' is not one of ${spec.choices.map((c) => `'${c}'`).join(', ')}.`);
    }
    if (spec.kind === 'multi') options[spec.key] = [...((options[spec.key] as string[] | undefined) ?? []), value];
    else options[spec.key] = value;
  }
  return { options, positionals, help };
}

/** Usage text of a list of options. */
export function describeOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => [`  ${s.flags.join(', ')}${s.kind === 'flag' ? '' : ' TEXT'}`, s.help] as const);
  const width = Math.max(...rows.map(([a]) => a.length), 10) + 2;
  return rows.map(([a, b]) => a.padEnd(width) + b).join('\n');
}
