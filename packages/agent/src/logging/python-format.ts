/**
 * Patroni's plain log lines: Python's `logging.Formatter` tokens (`%(asctime)s`, `%(levelname)-8s`,
 * `%(process)d`, ...) over a pino record. printf conversions go through sprintf-js and dates
 * through strftime (both kept libraries) so that widths, padding and `%Y-%m-%d` behave as in Python.
 */
import { sprintf } from 'sprintf-js';
import strftime from 'strftime';
import { PYTHON_NAME_OF } from './levels.js';

/** The LogRecord attributes a `log.format` may name (Python's documented list). */
export const RECORD_ATTRIBUTES = [
  'asctime', 'created', 'filename', 'funcName', 'levelname', 'levelno', 'lineno', 'message', 'module', 'msecs',
  'name', 'pathname', 'process', 'processName', 'relativeCreated', 'thread', 'threadName', 'taskName',
] as const;

export const DEFAULT_FORMAT = '%(asctime)s %(levelname)s: %(message)s';

const TOKEN = /%\(([^)]*)\)([#0\- +]*\d*(?:\.\d+)?)([a-zA-Z%])/g;
const CONVERSIONS = new Set(['s', 'r', 'a', 'd', 'i', 'u', 'f', 'F', 'e', 'E', 'g', 'G', 'x', 'X', 'o', 'c']);

/** What is wrong with a `log.format` string, or null: unknown attributes and conversions, said by name. */
export function formatProblem(format: string): string | null {
  for (const m of format.matchAll(TOKEN)) {
    const [token, name, , conversion] = m;
    if (!(RECORD_ATTRIBUTES as readonly string[]).includes(name!)) return `${token}: "${name}" is not a log record attribute (${RECORD_ATTRIBUTES.join(', ')})`;
    if (!CONVERSIONS.has(conversion!)) return `${token}: "%${conversion}" is not a printf conversion`;
  }
  return null;
}

const STARTED = Date.now();
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** Python's default asctime: local time, `,` and milliseconds. */
function asctime(d: Date, dateformat: string | undefined): string {
  return dateformat ? strftime(dateformat, d) : `${strftime('%Y-%m-%d %H:%M:%S', d)},${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** pino's record as a Python LogRecord: the message carries pino's extra fields as `key=value`. */
function recordOf(record: Record<string, unknown>, dateformat: string | undefined): Record<string, string | number> {
  const time = typeof record['time'] === 'number' ? record['time'] : Date.now();
  const d = new Date(time);
  const fields = Object.entries(record)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const level = PYTHON_NAME_OF[Number(record['level'])] ?? { name: 'INFO', no: 20 };
  const name = typeof record['name'] === 'string' ? record['name'] : 'patroni';
  const module = name.slice(name.lastIndexOf('.') + 1);
  return {
    asctime: asctime(d, dateformat),
    created: time / 1000,
    // pgha does not look up the call site per line (it costs a stack trace each time): the
    // module stands for the file, as Patroni's logger names follow its modules.
    filename: `${module}.py`,
    funcName: module,
    levelname: level.name,
    levelno: level.no,
    lineno: 0,
    message: [String(record['msg'] ?? ''), fields].filter((s) => s !== '').join(' '),
    module,
    msecs: d.getMilliseconds(),
    name,
    pathname: name.replace(/\./g, '/'),
    process: Number(record['pid'] ?? process.pid),
    processName: 'MainProcess',
    relativeCreated: time - STARTED,
    thread: 0,
    threadName: 'MainThread',
    taskName: 'None',
  };
}

/** One pino JSON line as Patroni would have printed it; a line that is not JSON passes unchanged. */
export function formatPlainLine(line: string, format: string | undefined, dateformat: string | undefined): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const values = recordOf(record, dateformat);
  const pattern = (format ?? DEFAULT_FORMAT).replace(TOKEN, (token, name: string, spec: string, conversion: string) =>
    // %r / %a (repr, ascii) print strings quoted in Python; sprintf-js has neither, and the value is a string here.
    conversion === 'r' || conversion === 'a' ? JSON.stringify(String(values[name] ?? '')).replace(/%/g, '%%') : `%(${name})${spec}${conversion === 'i' || conversion === 'u' ? 'd' : conversion}`,
  );
  try {
    return sprintf(pattern, values);
  } catch {
    // A format the check above let through but sprintf-js cannot print: the message still goes out.
    return `${values['asctime']} ${values['levelname']}: ${values['message']}`;
  }
}
