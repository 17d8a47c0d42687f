// The DCS `config` key's `postgresql` part as applied to PostgreSQL (core/dynamic-postgresql.ts;
// moved from the agent, issue #19): when, which part, and hot_standby_feedback for logical slots.
import { describe, expect, it } from 'vitest';
import { allowedDynamicPostgresql, dynamicConfigToApply, hasPermanentLogicalSlots, withSlotFeedback } from '../src/index.js';

describe('dynamicConfigToApply', () => {
  const stored = { value: { ttl: 30 }, version: '7' };

  it('applies a version not applied yet', () => {
    expect(dynamicConfigToApply(stored, null)).toBe(stored);
    expect(dynamicConfigToApply(stored, '6')).toBe(stored);
  });

  it('does not apply the same version twice, nor a missing key', () => {
    expect(dynamicConfigToApply(stored, '7')).toBeNull();
    expect(dynamicConfigToApply(null, null)).toBeNull();
    expect(dynamicConfigToApply(undefined, '7')).toBeNull();
  });
});

describe('allowedDynamicPostgresql', () => {
  const config = { postgresql: { parameters: { work_mem: '5MB', archive_command: 'curl evil' }, callbacks: { on_start: '/bin/x' } } };

  it('drops shell commands unless allowed, and scripts pgha runs always, saying which', () => {
    const denied = allowedDynamicPostgresql(config, { allowDcsCommands: false, localPostgresql: {} });
    expect(denied.postgresql).toEqual({ parameters: { work_mem: '5MB' } });
    expect(denied.ignored.join('\n')).toMatch(/config\.postgresql\.parameters\.archive_command: ignored/);
    expect(denied.ignored.join('\n')).toMatch(/config\.postgresql\.callbacks/);
    const allowed = allowedDynamicPostgresql(config, { allowDcsCommands: true, localPostgresql: {} });
    expect(allowed.postgresql).toEqual({ parameters: { work_mem: '5MB', archive_command: 'curl evil' } });
  });
});

describe('withSlotFeedback', () => {
  const logical = { slots: { cdc: { type: 'logical', database: 'postgres', plugin: 'pgoutput' } }, postgresql: { parameters: { work_mem: '4MB' } } };

  it('turns hot_standby_feedback on when permanent logical slots exist', () => {
    expect(withSlotFeedback(logical)).toEqual({ parameters: { work_mem: '4MB', hot_standby_feedback: 'on' } });
  });

  it('leaves a value the DBA set', () => {
    expect(withSlotFeedback({ ...logical, postgresql: { parameters: { hot_standby_feedback: 'off' } } })).toEqual({ parameters: { hot_standby_feedback: 'off' } });
  });

  it('changes nothing without logical slots', () => {
    expect(withSlotFeedback({ slots: { keep: { type: 'physical' } } })).toEqual({});
    expect(withSlotFeedback({ postgresql: { pg_hba: ['local all all trust'] } })).toEqual({ pg_hba: ['local all all trust'] });
  });

  it('reads the slots as the engine does: a slot with database and plugin is logical, a malformed one is no slot', () => {
    expect(hasPermanentLogicalSlots({ slots: { cdc: { database: 'app', plugin: 'pgoutput' } } })).toBe(true);
    expect(hasPermanentLogicalSlots({ slots: { cdc: { type: 'logical' } } })).toBe(false);
    expect(hasPermanentLogicalSlots({ slots: { 'Bad-Name': { type: 'logical', database: 'app', plugin: 'pgoutput' } } })).toBe(false);
    expect(hasPermanentLogicalSlots({ slots: 'nonsense' })).toBe(false);
  });
});
