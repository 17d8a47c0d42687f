import { describe, expect, it } from 'vitest';
import { parseWatchdogConfig, parseWatchdogMode, timingSlack, watchdogTimeout } from '../src/index.js';

describe('timeout arithmetic', () => {
  it('is ttl minus the safety margin', () => {
    expect(watchdogTimeout(30, 5)).toBe(25);
    expect(watchdogTimeout(10, 0)).toBe(10);
  });
  it('is half the ttl (floored) when the margin is -1', () => {
    expect(watchdogTimeout(30, -1)).toBe(15);
    expect(watchdogTimeout(11, -1)).toBe(5);
  });
  it('slack is what remains after one loop, negative when a loop is not covered', () => {
    expect(timingSlack(30, 5, 10)).toBe(15);
    expect(timingSlack(10, 5, 5)).toBe(0);
    expect(timingSlack(10, 5, 6)).toBe(-1);
    expect(timingSlack(10, -1, 6)).toBe(-1);
  });
});

describe('watchdog section', () => {
  it('defaults to automatic, /dev/watchdog, margin 5', () => {
    expect(parseWatchdogConfig(undefined)).toEqual({
      config: { mode: 'automatic', device: '/dev/watchdog', driver: 'default', safetyMargin: 5 },
      warnings: [],
    });
  });
  it("accepts Patroni's spellings of the modes", () => {
    expect(parseWatchdogMode(false)).toBe('off');
    expect(parseWatchdogMode('require')).toBe('required');
    expect(parseWatchdogMode('Required')).toBe('required');
    expect(parseWatchdogMode('auto')).toBe('automatic');
    expect(parseWatchdogMode('disabled')).toBe('off');
  });
  it('an unknown mode disables the watchdog with a warning', () => {
    const { config, warnings } = parseWatchdogConfig({ mode: 'sometimes' });
    expect(config.mode).toBe('off');
    expect(warnings).toEqual(['Watchdog mode sometimes not recognized, disabling watchdog']);
  });
  it('reads device, driver and a numeric-string margin; rejects a bad margin with the key path', () => {
    expect(parseWatchdogConfig({ mode: 'required', device: '/tmp/fifo', driver: 'testing', safety_margin: '-1' }).config).toEqual({
      mode: 'required', device: '/tmp/fifo', driver: 'testing', safetyMargin: -1,
    });
    const bad = parseWatchdogConfig({ safety_margin: 'lots' });
    expect(bad.config.safetyMargin).toBe(5);
    expect(bad.warnings[0]).toMatch(/^watchdog\.safety_margin: /);
  });
});
