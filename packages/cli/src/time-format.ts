/**
 * Times as patronictl prints and reads them: `timestamp()` is local `YYYY-MM-DD HH:MM:SS.fffff`
 * (Python's `%f` cut to 5 digits), scheduled times are ISO 8601 with an offset, and a time given
 * without an offset is taken as local time.
 */
import { CliError, CliErrorCode } from './errors.js';

const two = (n: number): string => String(n).padStart(2, '0');

function localParts(d: Date): string {
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** `timestamp(precision)` of patronictl: 6 → `.fffff` (sic), 0 → whole seconds. */
export function timestamp(now: Date, precision = 6): string {
  const micro = `${String(now.getMilliseconds()).padStart(3, '0')}000`;
  const full = `${localParts(now)}.${micro}`;
  return full.slice(0, full.length + precision - 7);
}

/** ISO 8601 in local time with its offset, like Python's `isoformat()` of an aware datetime. */
export function isoWithOffset(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${localParts(d).replace(' ', 'T')}${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

/** The example patronictl shows in its "When should ... take place" prompt: one hour from now. */
export function nextHourExample(now: Date): string {
  return isoWithOffset(new Date(now.getTime() + 3600_000)).slice(0, 16);
}

/** `--scheduled` / the prompt's answer: null for `now` (or nothing), else the time. */
export function parseScheduled(value: string | undefined): Date | null {
  if (value === undefined || value === '' || value === 'now') return null;
  const v = value.trim();
  // Without an offset, Date.parse takes date-times as local time already; a bare date is UTC, so add a time.
  const text = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00` : v.replace(' ', 'T');
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t)) {
    throw new CliError(CliErrorCode.Usage, `Unable to parse scheduled timestamp (${value}). It should be in an unambiguous format (e.g. ISO 8601)`);
  }
  return new Date(t);
}
