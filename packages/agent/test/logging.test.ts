import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, formatPlainLine, pinoLevel } from '../src/logging.js';

async function capture(section: Parameters<typeof createLogger>[0], write: (l: ReturnType<typeof createLogger>) => void): Promise<string> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const logger = createLogger(section, out);
  write(logger);
  logger.flush();
  await new Promise((r) => setTimeout(r, 50));
  return chunks.join('');
}

describe('logging', () => {
  it("maps Patroni's level names", () => {
    expect(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'nonsense', undefined].map(pinoLevel)).toEqual([
      'debug', 'info', 'warn', 'error', 'fatal', 'info', 'info',
    ]);
  });

  it('writes plain lines in Patroni style by default', async () => {
    const text = await capture({}, (l) => l.info('no action. I am (pg0), the leader with the lock'));
    expect(text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO: no action\. I am \(pg0\), the leader with the lock\n$/);
  });

  it('honours log.level and log.format', async () => {
    const text = await capture({ level: 'WARNING', format: '%(levelname)s - %(message)s' }, (l) => {
      l.info('hidden');
      l.warn({ member: 'pg1' }, 'shown');
    });
    expect(text).toBe('WARNING - shown member=pg1\n');
  });

  it('writes JSON lines with type json', async () => {
    const text = await capture({ type: 'json' }, (l) => l.error({ code: 'X' }, 'boom'));
    expect(JSON.parse(text)).toMatchObject({ level: 'ERROR', msg: 'boom', code: 'X' });
  });

  it('passes through a line that is not JSON', () => {
    expect(formatPlainLine('garbage', undefined, undefined)).toBe('garbage');
  });
});
