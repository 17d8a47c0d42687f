// Patroni's cluster rules, kept once in @pgha/dcs (issue #19): candidate tags, pause, sync mode, slot names.
import { describe, expect, it } from 'vitest';
import {
  configFlag, emptyCluster, failoverPriority, isCloneFrom, isNoFailover, isNoLoadBalance, isNoStream, isNoSync, isPaused,
  slotNameFromMemberName, synchronousModeOf, syncPriority, type Cluster,
} from '../src/index.js';

describe('nofailover and failover_priority (Patroni Tags._bool_tag / _priority_tag)', () => {
  it('excludes a member tagged nofailover with any parse_bool spelling of true', () => {
    for (const v of [true, 'true', 'on', 'YES', '1', 1]) expect(isNoFailover({ nofailover: v }), String(v)).toBe(true);
    for (const v of [false, 'false', 'off', 'no', '0', 0, 'garbage']) expect(isNoFailover({ nofailover: v }), String(v)).toBe(false);
  });

  it('excludes a member with failover_priority 0 or less when nofailover is not set', () => {
    expect(isNoFailover({ failover_priority: 0 })).toBe(true);
    expect(isNoFailover({ failover_priority: -1 })).toBe(true);
    expect(isNoFailover({ failover_priority: '0' })).toBe(true);
    expect(isNoFailover({ failover_priority: 1 })).toBe(false);
    expect(isNoFailover({ failover_priority: 'high' })).toBe(false);
    expect(isNoFailover({})).toBe(false);
  });

  it('lets nofailover win over failover_priority when both are set', () => {
    expect(isNoFailover({ nofailover: false, failover_priority: 0 })).toBe(false);
    expect(isNoFailover({ nofailover: true, failover_priority: 5 })).toBe(true);
    expect(isNoFailover({ nofailover: null, failover_priority: 0 })).toBe(true);
  });

  it('gives priority 0 to a nofailover member, else failover_priority, default 1', () => {
    expect(failoverPriority({})).toBe(1);
    expect(failoverPriority({ failover_priority: 3 })).toBe(3);
    expect(failoverPriority({ failover_priority: '2' })).toBe(2);
    expect(failoverPriority({ failover_priority: 'x' })).toBe(1);
    expect(failoverPriority({ nofailover: 'on', failover_priority: 3 })).toBe(0);
  });
});

describe('nosync and sync_priority', () => {
  it('follow the same rule as nofailover and failover_priority', () => {
    expect(isNoSync({ nosync: 'on' })).toBe(true);
    expect(isNoSync({ sync_priority: 0 })).toBe(true);
    expect(isNoSync({ nosync: false, sync_priority: 0 })).toBe(false);
    expect(isNoSync({})).toBe(false);
    expect([syncPriority({}), syncPriority({ sync_priority: 4 }), syncPriority({ nosync: true, sync_priority: 4 })]).toEqual([1, 4, 0]);
  });
});

describe('boolean tags', () => {
  it('read nostream, noloadbalance and clonefrom with parse_bool', () => {
    expect([isNoStream({ nostream: 'yes' }), isNoStream({ nostream: 'no' }), isNoStream({})]).toEqual([true, false, false]);
    expect([isNoLoadBalance({ noloadbalance: true }), isNoLoadBalance({ noloadbalance: 'true' }), isNoLoadBalance({ noloadbalance: 'off' })]).toEqual([true, true, false]);
    expect([isCloneFrom({ clonefrom: true }), isCloneFrom({ clonefrom: 'on' }), isCloneFrom({})]).toEqual([true, true, false]);
  });
});

describe('pause and configuration flags (Patroni GlobalConfig.check_mode)', () => {
  const withConfig = (value: Record<string, unknown>): Cluster => ({ ...emptyCluster(), config: { version: '1', value } });

  it('reads pause as parse_bool does, so the agent, the API and the CLI agree', () => {
    for (const v of [true, 'true', 'on', 'yes', '1', 1]) expect(isPaused(withConfig({ pause: v })), String(v)).toBe(true);
    for (const v of [false, 'false', 'off', null, 'paused']) expect(isPaused(withConfig({ pause: v })), String(v)).toBe(false);
    expect(isPaused(withConfig({}))).toBe(false);
    expect(isPaused(emptyCluster())).toBe(false);
    expect(isPaused(null)).toBe(false);
  });

  it('reads any flag of the dynamic configuration the same way', () => {
    expect(configFlag({ failsafe_mode: 'on' }, 'failsafe_mode')).toBe(true);
    expect(configFlag({ failsafe_mode: 'off' }, 'failsafe_mode')).toBe(false);
    expect(configFlag(undefined, 'failsafe_mode')).toBe(false);
  });

  it('reads synchronous_mode as quorum or a parse_bool flag, null when it is neither', () => {
    expect([undefined, null, 'quorum', true, 'on', 'yes', false, 'off'].map(synchronousModeOf)).toEqual(['off', 'off', 'quorum', 'on', 'on', 'on', 'off', 'off']);
    expect(synchronousModeOf('sometimes')).toBeNull();
  });
});

describe('slotNameFromMemberName (Patroni slot_name_from_member_name)', () => {
  it('lower-cases, maps - and . to _, other characters to u + 4-digit code point, at most 63 characters', () => {
    expect(slotNameFromMemberName('Postgresql-0.dc1')).toBe('postgresql_0_dc1');
    expect(slotNameFromMemberName('node@2')).toBe('nodeu00642');
    expect(slotNameFromMemberName('pg 1')).toBe('pgu00321');
    expect(slotNameFromMemberName('x'.repeat(80))).toBe('x'.repeat(63));
  });

  it('encodes a character outside the BMP as one code point, as Python does', () => {
    expect(slotNameFromMemberName('pg\u{1F600}')).toBe('pgu128512');
  });
});
