/**
 * Python's logging levels, as Patroni's `log.level`, `log.traceback_level` and `log.loggers`
 * take them, and their pino equivalents. Python refuses an unknown level name at start; so do we
 * (with the key path), instead of quietly logging at INFO.
 */
import type { LevelWithSilent } from 'pino';

/** Python's names and numbers. NOTSET on the root logger means "everything". */
export const PYTHON_LEVELS: Readonly<Record<string, number>> = {
  NOTSET: 0,
  DEBUG: 10,
  INFO: 20,
  WARN: 30,
  WARNING: 30,
  ERROR: 40,
  FATAL: 50,
  CRITICAL: 50,
};

/** A level as Python accepts it: a name (any case, as operators write them) or a number. */
export function parsePythonLevel(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  return PYTHON_LEVELS[text.toUpperCase()] ?? null;
}

/** The pino level that lets through exactly the records Python would at `level`. */
export function pinoLevelOf(level: number): LevelWithSilent {
  if (level <= 0) return 'trace';
  if (level <= 10) return 'debug';
  if (level <= 20) return 'info';
  if (level <= 30) return 'warn';
  if (level <= 40) return 'error';
  if (level <= 50) return 'fatal';
  return 'silent';
}

/** pino's level numbers → the name Python prints (`%(levelname)s`) and its number (`%(levelno)s`). */
export const PYTHON_NAME_OF: Readonly<Record<number, { name: string; no: number }>> = {
  10: { name: 'DEBUG', no: 10 },
  20: { name: 'DEBUG', no: 10 },
  30: { name: 'INFO', no: 20 },
  40: { name: 'WARNING', no: 30 },
  50: { name: 'ERROR', no: 40 },
  60: { name: 'CRITICAL', no: 50 },
};

/**
 * The level of the logger `name` under `log.loggers`: the entry for the name itself or for its
 * nearest dotted parent (`patroni.dcs` covers `patroni.dcs.etcd`), as Python's logger tree does.
 */
export function loggerLevel(name: string, loggers: Readonly<Record<string, number>>, root: number): number {
  for (let n = name; n !== ''; n = n.includes('.') ? n.slice(0, n.lastIndexOf('.')) : '') {
    const level = loggers[n];
    if (level !== undefined && level !== 0) return level;
  }
  return root;
}
