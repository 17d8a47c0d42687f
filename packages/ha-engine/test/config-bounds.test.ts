// pgha issue 15 (security review H5, H6, H7-config): the bounds of the dynamic configuration, and
// what the engine runs on when the stored value is out of range or does not parse.
import { decodeCluster, emptyCluster, MAX_TIMER_MS, timerDelay, type Cluster, type Logger } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import { DynamicConfigKeeper, dynamicConfigProblem, nodeClock, resolveEngineConfig, timingProblem } from '../src/index.js';

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (o: object | string, m?: string) => void warnings.push(typeof o === 'string' ? o : (m ?? '')) };
}

const clusterWith = (value: string, version: string): Cluster => decodeCluster({ nodes: new Map([['config', { value, version }]]) });

describe('dynamicConfigProblem (PATCH /config, edit-config, bootstrap.dcs)', () => {
  it('refuses timing values out of range and names the key', () => {
    expect(dynamicConfigProblem({ ttl: 1e7 })).toBe('ttl: must be between 4 and 86400 seconds, got 10000000');
    expect(dynamicConfigProblem({ retry_timeout: 3e6 })).toBe('retry_timeout: must be between 1 and 3600 seconds, got 3000000');
    expect(dynamicConfigProblem({ ttl: 1 })).toBe('ttl: must be between 4 and 86400 seconds, got 1');
    expect(dynamicConfigProblem({ retry_timeout: 0.01 })).toBe('retry_timeout: must be between 1 and 3600 seconds, got 0.01');
    expect(dynamicConfigProblem({ loop_wait: 5_000_000, ttl: 100_000_000 })).toMatch(/^ttl: must be between/);
    expect(dynamicConfigProblem({ primary_start_timeout: 3e6 })).toMatch(/^primary_start_timeout: must be between 0 and 604800/);
    expect(dynamicConfigProblem({ member_slots_ttl: '90d' })).toMatch(/^member_slots_ttl: must be between 0 and 2592000/);
    expect(dynamicConfigProblem({ maximum_lag_on_failover: '2h' })).toBe(null);
    expect(dynamicConfigProblem({ maximum_lag_on_failover: '48h' })).toMatch(/^maximum_lag_on_failover: must be between 0 and 86400/);
    expect(dynamicConfigProblem({ ttl: 'soon' })).toBe('ttl: expected a number of seconds, got "soon"');
  });

  it('allows the fast profile and the defaults', () => {
    expect(dynamicConfigProblem({ ttl: 4, loop_wait: 1, retry_timeout: 1 })).toBe(null);
    expect(dynamicConfigProblem({ ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1_048_576 })).toBe(null);
  });

  it('refuses a postgresql section that would break postgresql.conf or pg_hba.conf', () => {
    expect(dynamicConfigProblem({ postgresql: { pg_hba: 'host all all 0.0.0.0/0 trust' } })).toBe('postgresql.pg_hba: expected a list of strings');
    expect(dynamicConfigProblem({ postgresql: { pg_hba: ['local all all trust\nhost all all 0.0.0.0/0 trust'] } })).toBe(
      'postgresql.pg_hba[0]: a line must not contain a line break or NUL',
    );
    expect(dynamicConfigProblem({ postgresql: { parameters: { "x = 1\ninclude '/tmp/evil'": 'on' } } })).toBe(
      'postgresql.parameters."x = 1\\ninclude \'/tmp/evil\'": not a valid parameter name',
    );
    expect(dynamicConfigProblem({ postgresql: { parameters: { work_mem: "4MB'\nshared_preload_libraries = 'evil" } } })).toBe(
      'postgresql.parameters.work_mem: a value must not contain a line break or NUL',
    );
    expect(dynamicConfigProblem({ postgresql: { parameters: { work_mem: { nested: 1 } } } })).toMatch(/^postgresql\.parameters\.work_mem: expected a string/);
    expect(dynamicConfigProblem({ postgresql: { parameters: { 'pg_stat_statements.max': 1000, work_mem: '4MB' } } })).toBe(null);
  });
});

describe('resolveEngineConfig with values out of range', () => {
  it('never runs on a duration Node cannot arm or a DCS budget of milliseconds', () => {
    const huge = resolveEngineConfig({ ttl: 1e7, retry_timeout: 3e6 });
    expect([huge.config.ttl, huge.config.retryTimeout]).toEqual([30, 10]);
    expect(huge.warnings).toContain('config.ttl: expected at most 86400 seconds, got 10000000; using 30');
    const tiny = resolveEngineConfig({ ttl: 1 });
    expect(tiny.config.ttl).toBe(30);
    expect(tiny.config.retryTimeout).toBeGreaterThanOrEqual(1);
    expect(resolveEngineConfig({ ttl: 4, loop_wait: 1, retry_timeout: 1 }).config).toMatchObject({ ttl: 4, loopWait: 1, retryTimeout: 1 });
  });

  it('does not throw on a deeply nested wrong-typed value (its warnings used to JSON.stringify it)', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const { config, warnings } = resolveEngineConfig({ ttl: deep, slots: deep, synchronous_mode: deep, pause: deep });
    expect(config.ttl).toBe(30);
    expect(warnings.some((w) => w.startsWith('config.ttl: expected a number >= 4, got an array'))).toBe(true);
  });
});

describe('DynamicConfigKeeper: the last good configuration', () => {
  it('keeps pause and synchronous mode when the config key stops parsing, and says so once', () => {
    const log = recordingLogger();
    const keeper = new DynamicConfigKeeper({ bootstrapDcs: { ttl: 20 } }, log);
    expect(keeper.resolve(clusterWith('{"ttl":30,"pause":true,"synchronous_mode":true}', '1'))).toMatchObject({ pause: true, synchronousMode: 'on' });
    expect(keeper.problem).toBe(null);

    const broken = clusterWith('{"ttl":30,"pause":tru', '2');
    expect(broken.config).toBe(null);
    expect(broken.configError?.version).toBe('2');
    for (let i = 0; i < 3; i++) expect(keeper.resolve(broken)).toMatchObject({ ttl: 30, pause: true, synchronousMode: 'on' });
    expect(keeper.problem).toMatch(/^the config key does not parse/);
    expect(keeper.inEffect).toEqual({ value: { ttl: 30, pause: true, synchronous_mode: true }, version: '1' });
    expect(log.warnings.filter((w) => w.startsWith('invalid dynamic configuration in the DCS'))).toEqual([
      expect.stringContaining('running on the last good configuration (version 1) until it is fixed'),
    ]);

    expect(keeper.resolve(clusterWith('{"ttl":30}', '3'))).toMatchObject({ pause: false });
    expect(keeper.problem).toBe(null);
  });

  it('keeps the last good timing when a stored timing value is out of range', () => {
    const log = recordingLogger();
    const keeper = new DynamicConfigKeeper({}, log);
    keeper.resolve(clusterWith('{"ttl":20,"loop_wait":2,"retry_timeout":5,"pause":true}', '1'));
    for (let i = 0; i < 3; i++) expect(keeper.resolve(clusterWith('{"ttl":10000000,"loop_wait":2,"retry_timeout":5}', '2'))).toMatchObject({ ttl: 20, pause: true });
    expect(keeper.problem).toBe('config.ttl: must be between 4 and 86400 seconds, got 10000000');
    expect(log.warnings.filter((w) => w.startsWith('invalid dynamic configuration'))).toHaveLength(1);
  });

  it('with no good value seen yet, resolves an out-of-range value key by key', () => {
    const keeper = new DynamicConfigKeeper({}, recordingLogger());
    expect(keeper.resolve(clusterWith('{"ttl":1,"pause":true}', '1'))).toMatchObject({ ttl: 30, pause: true });
    expect(keeper.resolve({ ...emptyCluster() })).toMatchObject({ ttl: 30, pause: false });
  });
});

describe('timers', () => {
  it('timerDelay never exceeds what setTimeout can arm', () => {
    expect([timerDelay(-5), timerDelay(Number.NaN), timerDelay(12), timerDelay(1e13)]).toEqual([0, 0, 12, MAX_TIMER_MS]);
    expect(timingProblem({ ttl: 86_400, retry_timeout: 3_600, loop_wait: 3_600, primary_start_timeout: 604_800 })).toBe(null);
  });

  it('a sleep longer than 2^31-1 ms does not fire at once', async () => {
    // Without the clamp Node fires the long timer after 1 ms, before the short one.
    const order: string[] = [];
    const cancelLong = new AbortController();
    const long = nodeClock.sleep(3e9, cancelLong.signal).then(() => order.push('long'));
    await nodeClock.sleep(30).then(() => order.push('short'));
    cancelLong.abort();
    await long;
    expect(order).toEqual(['short', 'long']);
  });
});
