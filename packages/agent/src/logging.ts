/**
 * Logging: pino underneath, configured from Patroni's `log:` section (and the PATRONI_LOG*
 * variables already folded into it). `type: json` writes pino's JSON lines; `type: plain` (the
 * default, as in Patroni) writes `2026-11-24 12:00:00,123 INFO: no action. I am (pg0), the
 * leader with the lock`, following `log.format` / `log.dateformat` where they use Python's
 * logging tokens. `log.dir` sends the output to `<dir>/patroni.log` instead of stderr.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export interface LogSection {
  type?: 'plain' | 'json';
  level?: string;
  format?: string;
  dateformat?: string;
  dir?: string;
  static_fields?: Record<string, unknown>;
  loggers?: Record<string, unknown>;
}

/** Patroni's (Python's) level names → pino's. */
const LEVELS: Record<string, LevelWithSilent> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  WARN: 'warn',
  ERROR: 'error',
  CRITICAL: 'fatal',
  FATAL: 'fatal',
  SILENT: 'silent',
};

const PYTHON_NAMES: Record<number, string> = { 10: 'DEBUG', 20: 'DEBUG', 30: 'INFO', 40: 'WARNING', 50: 'ERROR', 60: 'CRITICAL' };

export function pinoLevel(level: string | undefined): LevelWithSilent {
  if (!level) return 'info';
  return LEVELS[level.toUpperCase()] ?? (Object.values(LEVELS).includes(level.toLowerCase() as LevelWithSilent) ? (level.toLowerCase() as LevelWithSilent) : 'info');
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function formatTime(ms: number, dateformat: string | undefined): string {
  const d = new Date(ms);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (!dateformat) return `${date} ${time},${pad(d.getMilliseconds(), 3)}`;
  return dateformat
    .replace(/%Y/g, String(d.getFullYear()))
    .replace(/%m/g, pad(d.getMonth() + 1))
    .replace(/%d/g, pad(d.getDate()))
    .replace(/%H/g, pad(d.getHours()))
    .replace(/%M/g, pad(d.getMinutes()))
    .replace(/%S/g, pad(d.getSeconds()));
}

const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** Turns one pino JSON line into a Patroni-style plain line. */
export function formatPlainLine(line: string, format: string | undefined, dateformat: string | undefined): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const fields = Object.entries(record)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const message = [record['msg'] ?? '', fields].filter((s) => s !== '').join(' ');
  const level = PYTHON_NAMES[Number(record['level'])] ?? 'INFO';
  const time = formatTime(Number(record['time'] ?? Date.now()), dateformat);
  return (format ?? '%(asctime)s %(levelname)s: %(message)s')
    .replace(/%\(asctime\)s/g, time)
    .replace(/%\(levelname\)s/g, level)
    .replace(/%\(process\)d/g, String(record['pid'] ?? process.pid))
    .replace(/%\(name\)s/g, String(record['name'] ?? 'pgha'))
    .replace(/%\(message\)s/g, message);
}

function plainStream(target: NodeJS.WritableStream, section: LogSection): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const out = chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => `${formatPlainLine(l, section.format, section.dateformat)}\n`)
        .join('');
      target.write(out, () => done());
    },
  });
}

/** Builds the agent's logger. `destination` overrides where lines go (tests). */
export function createLogger(section: LogSection = {}, destination?: NodeJS.WritableStream): PinoLogger {
  let target: NodeJS.WritableStream = destination ?? process.stderr;
  if (!destination && section.dir) {
    mkdirSync(section.dir, { recursive: true });
    target = createWriteStream(join(section.dir, 'patroni.log'), { flags: 'a' });
  }
  const stream = section.type === 'json' ? target : plainStream(target, section);
  return pino(
    {
      level: pinoLevel(section.level),
      base: section.static_fields ? { ...section.static_fields } : { pid: process.pid },
      timestamp: section.type === 'json' ? pino.stdTimeFunctions.isoTime : pino.stdTimeFunctions.epochTime,
      formatters: section.type === 'json' ? { level: (label) => ({ level: label.toUpperCase() }) } : {},
    },
    stream,
  );
}
