// The engine's view of the configuration: Patroni's defaults, aliases, lenient reading.
import { describe, expect, it } from 'vitest';
import { engineTiming, resolveEngineConfig } from '../src/index.js';

describe('resolveEngineConfig', () => {
  it("uses Patroni's defaults", () => {
    const { config, warnings } = resolveEngineConfig(null);
    expect(config).toMatchObject({
      ttl: 30,
      loopWait: 10,
      retryTimeout: 10,
      maximumLagOnFailover: 1_048_576,
      primaryStartTimeout: 300,
      checkTimeline: false,
      pause: false,
      usePgRewind: false,
      safetyMargin: 5,
    });
    expect(warnings).toEqual([]);
  });

  it('reads the DCS config, falling back to bootstrap.dcs while the key is missing', () => {
    expect(resolveEngineConfig({ ttl: 40 }, { bootstrapDcs: { ttl: 20 } }).config.ttl).toBe(40);
    expect(resolveEngineConfig(null, { bootstrapDcs: { ttl: 20, loop_wait: 5, retry_timeout: 5 } }).config.ttl).toBe(20);
  });

  it('accepts master_start_timeout as the old name of primary_start_timeout', () => {
    expect(resolveEngineConfig({ master_start_timeout: 0 }).config.primaryStartTimeout).toBe(0);
    expect(resolveEngineConfig({ primary_start_timeout: 60, master_start_timeout: 0 }).config.primaryStartTimeout).toBe(60);
  });

  it('lets the local postgresql section override the dynamic one', () => {
    const { config } = resolveEngineConfig(
      { postgresql: { use_pg_rewind: true, remove_data_directory_on_diverged_timelines: true } },
      { postgresql: { use_pg_rewind: false } },
    );
    expect(config.usePgRewind).toBe(false);
    expect(config.removeDataDirectoryOnDivergedTimelines).toBe(true);
  });

  it('reads numbers and booleans written as strings, and warns about garbage naming the key', () => {
    const { config, warnings } = resolveEngineConfig({ ttl: '45', check_timeline: 'on', maximum_lag_on_failover: 'lots', pause: [] });
    expect(config.ttl).toBe(45);
    expect(config.checkTimeline).toBe(true);
    expect(config.maximumLagOnFailover).toBe(1_048_576);
    expect(config.pause).toBe(false);
    expect(warnings).toEqual([
      'config.maximum_lag_on_failover: expected a number of bytes or a duration such as 500ms, 10s or 2min, got "lots"; using 1048576',
      'config.pause: expected a boolean, got []; using false',
    ]);
  });

  it('shortens loop_wait when loop_wait + 2 * retry_timeout exceeds the ttl, with a warning, and keeps the safety margin under a third of it', () => {
    const { config, warnings } = resolveEngineConfig({ ttl: 12, loop_wait: 5, retry_timeout: 5 });
    expect(warnings).toEqual(['config: the rule "loop_wait + 2*retry_timeout <= ttl" is violated (ttl 12, loop_wait 5, retry_timeout 5); running with loop_wait 2']);
    expect([config.ttl, config.loopWait, config.retryTimeout]).toEqual([12, 2, 5]);
    expect(config.safetyMargin).toBe(4);
  });

  it('shortens retry_timeout too when even a one-second loop does not fit', () => {
    const { config, warnings } = resolveEngineConfig({ ttl: 10, loop_wait: 5, retry_timeout: 5 });
    expect(warnings).toEqual(['config: the rule "loop_wait + 2*retry_timeout <= ttl" is violated (ttl 10, loop_wait 5, retry_timeout 5); running with loop_wait 1 and retry_timeout 4.5']);
    expect([config.loopWait, config.retryTimeout]).toEqual([1, 4.5]);
    expect(resolveEngineConfig({ ttl: 10, loop_wait: 1, retry_timeout: 3 }).warnings).toEqual([]);
  });
});

// Moved from the agent (issue #19): the DCS session opened at start is timed as the engine would
// run, not by a second parser without the safety correction.
describe('engineTiming', () => {
  it('is the defaults without a configuration', () => {
    expect(engineTiming(undefined)).toEqual({ ttl: 30, loopWait: 10, retryTimeout: 10 });
  });

  it('reads numbers and numeric strings', () => {
    expect(engineTiming({ ttl: '20', loop_wait: 2, retry_timeout: '5' })).toEqual({ ttl: 20, loopWait: 2, retryTimeout: 5 });
  });

  it('applies loop_wait + 2*retry_timeout <= ttl', () => {
    expect(engineTiming({ ttl: 10, loop_wait: 10, retry_timeout: 3 })).toEqual({ ttl: 10, loopWait: 4, retryTimeout: 3 });
    expect(engineTiming({ ttl: 10, loop_wait: 5, retry_timeout: 5 })).toEqual({ ttl: 10, loopWait: 1, retryTimeout: 4.5 });
  });

  it('falls back to the default for a value out of bounds', () => {
    expect(engineTiming({ ttl: 1e7 }).ttl).toBe(30);
  });
});
