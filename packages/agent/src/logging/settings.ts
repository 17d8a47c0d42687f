/**
 * Patroni's `log:` section read into what the logging needs, with each problem named by its key
 * path. The agent checks a changed section before applying it, so a bad reload changes nothing.
 */
import { PghaError } from '@pgha/dcs';
import { DEFAULT_FILE_NUM, DEFAULT_FILE_SIZE, type FileTarget } from './output.js';
import { parsePythonLevel } from './levels.js';
import { formatProblem } from './python-format.js';

export interface LogSection {
  type?: 'plain' | 'json';
  level?: string;
  traceback_level?: string;
  format?: string | unknown[];
  dateformat?: string;
  dir?: string;
  mode?: number | string;
  file_size?: number;
  file_num?: number;
  static_fields?: Record<string, unknown>;
  loggers?: Record<string, unknown>;
}

export interface LogSettings {
  type: 'plain' | 'json';
  /** Python level of the root logger. */
  level: number;
  /** Python levels per logger name (`log.loggers`). */
  loggers: Record<string, number>;
  format: string | undefined;
  dateformat: string | undefined;
  staticFields: Record<string, unknown>;
  file: FileTarget | null;
}

export interface LogProblem {
  /** Key path under `log` (`['loggers', 'patroni.dcs']`). */
  path: string[];
  message: string;
}

export class LogSettingsError extends PghaError<'LOG_SETTINGS_INVALID'> {
  readonly problems: LogProblem[];
  constructor(problems: LogProblem[]) {
    super('LOG_SETTINGS_INVALID', problems.map((p) => `${['log', ...p.path].join('.')}: ${p.message}`).join('; '));
    this.name = 'LogSettingsError';
    this.problems = problems;
  }
}

/** `log.mode` as Patroni's parse_int reads it: a number, or a string in octal when it starts with 0. */
function parseMode(value: number | string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 0o7777 ? value : null;
  const text = value.trim();
  if (/^0[0-7]*$/.test(text)) return parseInt(text, 8);
  if (/^\d+$/.test(text)) return parseInt(text, 10);
  return null;
}

/** Every problem of the section at once, each with its key path. */
export function logSettingsOf(section: LogSection = {}): LogSettings {
  const problems: LogProblem[] = [];
  const level = parsePythonLevel(section.level ?? 'INFO');
  if (level === null) problems.push({ path: ['level'], message: `unknown level ${JSON.stringify(section.level)} (NOTSET, DEBUG, INFO, WARNING, ERROR, CRITICAL or a number)` });
  const loggers: Record<string, number> = {};
  for (const [name, value] of Object.entries(section.loggers ?? {})) {
    const l = parsePythonLevel(value);
    if (l === null) problems.push({ path: ['loggers', name], message: `unknown level ${JSON.stringify(value)}` });
    else loggers[name] = l;
  }
  const format = typeof section.format === 'string' ? section.format : undefined;
  if (format !== undefined && (section.type ?? 'plain') === 'plain') {
    const problem = formatProblem(format);
    if (problem) problems.push({ path: ['format'], message: `${problem}` });
  }
  const mode = parseMode(section.mode);
  if (mode === null) problems.push({ path: ['mode'], message: `expected file permissions such as 0644, got ${JSON.stringify(section.mode)}` });
  const fileSize = section.file_size ?? DEFAULT_FILE_SIZE;
  if (!(Number.isInteger(fileSize) && fileSize > 0)) problems.push({ path: ['file_size'], message: `expected a positive number of bytes, got ${JSON.stringify(section.file_size)}` });
  const fileNum = section.file_num ?? DEFAULT_FILE_NUM;
  if (!(Number.isInteger(fileNum) && fileNum >= 0)) problems.push({ path: ['file_num'], message: `expected a number of files (0 or more), got ${JSON.stringify(section.file_num)}` });
  if (problems.length > 0) throw new LogSettingsError(problems);
  return {
    type: section.type ?? 'plain',
    level: level!,
    loggers,
    format,
    dateformat: section.dateformat || undefined,
    staticFields: section.static_fields ?? {},
    file: section.dir ? { dir: section.dir, fileSize, fileNum, ...(typeof mode === 'number' ? { mode } : {}) } : null,
  };
}
