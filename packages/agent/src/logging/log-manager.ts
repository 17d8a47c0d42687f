/**
 * The agent's loggers: pino records, rendered as Patroni renders them, to stderr or a rotated file.
 * Each component gets a logger named as Patroni's module is (`patroni.dcs`, `patroni.postgresql`,
 * ...), so `log.loggers` entries written for Patroni set the same parts' levels. A reload swaps
 * settings, levels and output in place: components keep the logger objects they were given.
 */
import { Writable } from 'node:stream';
import { pino, type Logger as PinoLogger } from 'pino';
import { loggerLevel, pinoLevelOf } from './levels.js';
import { fileOutput, stderrOutput, type Output } from './output.js';
import { formatPlainLine } from './python-format.js';
import { logSettingsOf, type LogSection, type LogSettings } from './settings.js';

/** Patroni's logger names for pgha's parts; `requests` is the outgoing HTTP client's (PATRONI_REQUESTS_LOGLEVEL). */
export type ComponentLogger = 'patroni' | 'patroni.ha' | 'patroni.dcs' | 'patroni.postgresql' | 'patroni.watchdog' | 'patroni.api' | 'requests';

export interface Logging {
  /** The root logger (`patroni`). */
  readonly root: PinoLogger;
  /** The logger of one part; the same object for the same name. */
  named(name: ComponentLogger): PinoLogger;
  /** Applies a changed `log:` section; throws LogSettingsError (and changes nothing) when it is invalid. */
  reconfigure(section: LogSection | undefined): void;
  close(): Promise<void>;
}

function render(line: string, s: LogSettings, staticFields: Record<string, unknown>): string {
  if (s.type === 'plain') return formatPlainLine(line, s.format, s.dateformat);
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    const label = pino.levels.labels[Number(record['level'])] ?? 'info';
    return JSON.stringify({ ...staticFields, ...record, level: label.toUpperCase(), time: new Date(Number(record['time'])).toISOString() });
  } catch {
    return line;
  }
}

/** `destination` replaces stderr and log.dir (tests). */
export function createLogging(section: LogSection | undefined, destination?: NodeJS.WritableStream): Logging {
  let settings = logSettingsOf(section);
  let output: Output;
  const openOutput = (s: LogSettings): Output => {
    if (destination) return stderrOutput(destination);
    if (!s.file) return stderrOutput();
    const dir = s.file.dir;
    const file = fileOutput(s.file, (e) => {
      // A directory we cannot write (permissions, a full disk) must not swallow the log: the
      // lines go to stderr from here on, as they would without log.dir, until the next reload.
      process.stderr.write(`pgha: cannot write the log file in ${dir} (${e.message}); logging to stderr\n`);
      if (output === file) output = stderrOutput();
    });
    return file;
  };
  output = openOutput(settings);

  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => `${render(l, settings, settings.staticFields)}\n`)
        .join('');
      output.stream.write(text);
      done();
    },
  });

  // Records carry epoch milliseconds and pino's level numbers; rendering decides the rest, so a
  // reload can change type, format and fields without new logger objects.
  const root = pino({ level: 'info', name: 'patroni', timestamp: pino.stdTimeFunctions.epochTime }, sink);
  const named = new Map<string, PinoLogger>([['patroni', root]]);
  // pgha's root is Patroni's `patroni` logger: a `log.loggers.patroni` entry sets it as well.
  const applyLevels = () => {
    for (const [name, logger] of named) {
      logger.level = pinoLevelOf(levelOf(name));
    }
  };
  const levelOf = (name: string): number =>
    // Python's `requests` logger is urllib3's parent in Patroni's docs; either name sets it.
    name === 'requests' ? loggerLevel('requests', settings.loggers, loggerLevel('urllib3', settings.loggers, settings.level)) : loggerLevel(name, settings.loggers, settings.level);

  applyLevels();

  return {
    root,
    named(name) {
      let logger = named.get(name);
      if (!logger) {
        logger = root.child({ name });
        logger.level = pinoLevelOf(levelOf(name));
        named.set(name, logger);
      }
      return logger;
    },
    reconfigure(next) {
      const nextSettings = logSettingsOf(next);
      if (!output.same(nextSettings.file) && !destination) {
        const old = output;
        output = openOutput(nextSettings);
        void old.close();
      }
      settings = nextSettings;
      applyLevels();
    },
    close: () => output.close(),
  };
}

/** The root logger alone, for callers that never reload (tests, tools). */
export function createLogger(section: LogSection = {}, destination?: NodeJS.WritableStream): PinoLogger {
  return createLogging(section, destination).root;
}
