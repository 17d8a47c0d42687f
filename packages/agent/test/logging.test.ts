import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogging, formatPlainLine, logSettingsOf, parsePythonLevel, pinoLevelOf, type LogSection } from '../src/logging/index.js';
import { agentConfigSchema } from '../src/config/schema.js';

/** A destination that keeps what pino wrote, synchronously (pino writes each line as it is logged). */
function collector(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('levels', () => {
  it("reads Python's names in any case, numbers, and NOTSET", () => {
    expect(['DEBUG', 'info', 'Warning', 'WARN', 'ERROR', 'CRITICAL', 'FATAL', 'NOTSET', 15, '35', 'nonsense', true].map(parsePythonLevel)).toEqual([
      10, 20, 30, 30, 40, 50, 50, 0, 15, 35, null, null,
    ]);
    expect([0, 10, 15, 20, 30, 40, 50, 60].map(pinoLevelOf)).toEqual(['trace', 'debug', 'info', 'info', 'warn', 'error', 'fatal', 'silent']);
  });

  it('NOTSET on the root logger lets everything through', () => {
    const out = collector();
    const logging = createLogging({ level: 'NOTSET', format: '%(levelname)s %(message)s' }, out.stream);
    logging.root.trace('finest');
    logging.root.debug('fine');
    expect(out.text()).toBe('DEBUG finest\nDEBUG fine\n');
  });
});

describe('plain lines', () => {
  it("default: Patroni's `asctime levelname: message`", () => {
    const out = collector();
    createLogging({}, out.stream).root.info('no action. I am (pg0), the leader with the lock');
    expect(out.text()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO: no action\. I am \(pg0\), the leader with the lock\n$/);
  });

  it("renders the LogRecord attributes Patroni's docs use, with printf widths", () => {
    const out = collector();
    const logging = createLogging(
      { format: '[%(levelname)-8s] %(name)s %(module)s pid=%(process)d %(threadName)s %(msecs)03d %(levelno)s 100%% %(message)s' },
      out.stream,
    );
    logging.named('patroni.dcs').warn({ member: 'pg1' }, 'shown');
    expect(out.text()).toMatch(new RegExp(`^\\[WARNING \\] patroni\\.dcs dcs pid=${process.pid} MainThread \\d{3} 30 100% shown member=pg1\\n$`));
  });

  it('follows log.dateformat through strftime', () => {
    const line = JSON.stringify({ level: 30, time: new Date(2026, 11, 3, 9, 5, 7).getTime(), msg: 'm' });
    expect(formatPlainLine(line, '%(asctime)s|%(message)s', '%d/%m/%Y %H:%M:%S')).toBe('03/12/2026 09:05:07|m');
    expect(formatPlainLine(line, '%(asctime)s|%(message)r', undefined)).toBe('2026-12-03 09:05:07,000|"m"');
  });

  it('passes through a line that is not JSON', () => {
    expect(formatPlainLine('garbage', undefined, undefined)).toBe('garbage');
  });

  it('writes JSON lines with type json, static fields included', () => {
    const out = collector();
    createLogging({ type: 'json', static_fields: { app: 'pgha-test' } }, out.stream).root.error({ code: 'X' }, 'boom');
    expect(JSON.parse(out.text())).toMatchObject({ level: 'ERROR', msg: 'boom', code: 'X', app: 'pgha-test', name: 'patroni' });
  });
});

describe('log.loggers', () => {
  it("sets a part's level by its Patroni name or a dotted parent; the rest follow log.level", () => {
    const out = collector();
    const logging = createLogging({ level: 'INFO', format: '%(name)s %(message)s', loggers: { 'patroni.dcs': 'WARNING', patroni: 'DEBUG', urllib3: 'DEBUG' } }, out.stream);
    logging.named('patroni.dcs').info('dcs info, hidden');
    logging.named('patroni.dcs').warn('dcs warning');
    logging.named('patroni.postgresql').debug('postgresql debug, from the `patroni` entry');
    logging.named('requests').debug('GET http://x 200');
    logging.root.debug('root debug, shown: the root is `patroni` too');
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      'patroni.dcs dcs warning',
      'patroni.postgresql postgresql debug, from the `patroni` entry',
      'requests GET http://x 200',
      'patroni root debug, shown: the root is `patroni` too',
    ]);
  });

  it('a reload changes levels and format of the loggers already handed out', () => {
    const out = collector();
    const logging = createLogging({ format: '%(levelname)s %(message)s' }, out.stream);
    const dcs = logging.named('patroni.dcs');
    dcs.debug('before: hidden');
    logging.reconfigure({ format: '%(name)s/%(levelname)s %(message)s', loggers: { 'patroni.dcs': 'DEBUG' } });
    dcs.debug('after: shown');
    logging.reconfigure({ level: 'ERROR' });
    dcs.warn('hidden again');
    logging.root.error('root error');
    // The new section is the whole of it: without a format, Patroni's default again.
    expect(out.text()).toMatch(/^patroni\.dcs\/DEBUG after: shown\n\d{4}-\d\d-\d\d [\d:,]+ ERROR: root error\n$/);
  });
});

describe('bad settings', () => {
  it('names every problem with its key path, and a reload with them changes nothing', () => {
    const bad: LogSection = { level: 'LOUD', loggers: { 'patroni.ha': 'chatty' }, format: '%(asctime)s %(hostname)s', file_size: -1, mode: 'rw' };
    expect(() => logSettingsOf(bad)).toThrow(
      'log.level: unknown level "LOUD" (NOTSET, DEBUG, INFO, WARNING, ERROR, CRITICAL or a number); ' +
        'log.loggers.patroni.ha: unknown level "chatty"; ' +
        'log.format: %(hostname)s: "hostname" is not a log record attribute',
    );
    const out = collector();
    const logging = createLogging({ format: '%(message)s' }, out.stream);
    expect(() => logging.reconfigure(bad)).toThrow(/log\.level/);
    logging.root.info('still the old format');
    expect(out.text()).toBe('still the old format\n');
  });

  it('the configuration schema reports them at their paths', () => {
    const parsed = agentConfigSchema.safeParse({ scope: 's', name: 'n', restapi: { listen: ':8008' }, postgresql: { data_dir: '/d', listen: ':5432' }, log: { level: 'LOUD', file_num: 2, loggers: { urllib3: 'x' } } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message.split(' (')[0]])).toEqual([
      ['log.level', 'unknown level "LOUD"'],
      ['log.loggers.urllib3', 'unknown level "x"'],
    ]);
  });
});

describe('log.dir', () => {
  it("rotates patroni.log at file_size and keeps file_num old files, as Python's RotatingFileHandler", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgha-log-'));
    dirs.push(dir);
    const logging = createLogging({ dir, file_size: 2000, file_num: 2, mode: '0600', format: '%(message)s' });
    for (let i = 0; i < 100; i++) logging.root.info(`line ${String(i).padStart(3, '0')} ${'x'.repeat(60)}`);
    await logging.close();
    expect(readdirSync(dir).sort()).toEqual(['patroni.log', 'patroni.log.1', 'patroni.log.2']);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(2000 + 70);
    // The newest lines are in patroni.log, the older ones in .1 then .2; the oldest are gone.
    const newest = readFileSync(join(dir, 'patroni.log'), 'utf8').trim().split('\n');
    expect(newest.at(-1)).toMatch(/^line 099 /);
    const older = readFileSync(join(dir, 'patroni.log.1'), 'utf8').trim().split('\n');
    expect(Number(older.at(-1)!.slice(5, 8)) + 1).toBe(Number(newest[0]!.slice(5, 8)));
    expect(readFileSync(join(dir, 'patroni.log.2'), 'utf8')).not.toMatch(/^line 000 /);
    expect(statSync(join(dir, 'patroni.log')).mode & 0o777).toBe(0o600);
  });

  it('a reload moves the output from stderr to a directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgha-log-'));
    dirs.push(dir);
    const logging = createLogging({ format: '%(message)s', level: 'ERROR' });
    logging.reconfigure({ dir, format: '%(levelname)s %(message)s' });
    logging.root.info('into the file');
    await logging.close();
    expect(readFileSync(join(dir, 'patroni.log'), 'utf8')).toBe('INFO into the file\n');
  });
});
