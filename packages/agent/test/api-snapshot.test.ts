// GET /patroni's role follows the Patroni names the engine uses (pgha issue #17): `master` while
// the cluster speaks Patroni 3, `primary` with 4; other roles are the same in both.
import { describe, expect, it } from 'vitest';
import { emptyCluster } from '@pgha/dcs';
import { resolveEngineConfig, type EngineStatus } from '@pgha/ha-engine';
import { renderPatroniMetrics } from '@pgha/rest-api';
import { buildApiSnapshot, type Identity } from '../src/api-snapshot.js';

const me: Identity = { name: 'pg0', scope: 'demo', patroniVersion: '3.0.2', pghaVersion: '0.1.0', tags: {} };

function status(role: string, patroniDialect: 3 | 4): EngineStatus {
  return {
    name: 'pg0',
    role,
    state: 'running',
    timeline: 1,
    lsn: 100,
    leader: 'pg0',
    holdsLock: role === 'primary',
    pendingRestart: false,
    lastReason: null,
    lastCycleAt: 0,
    dcsLastSeen: null,
    running: null,
    cluster: null,
    local: null,
    config: resolveEngineConfig(null).config,
    member: null,
    failsafeActive: false,
    configProblem: null,
    dynamicConfig: null,
    patroniDialect,
    lastLockRenewalAt: null,
    notStreaming: null,
  };
}

describe('GET /patroni role by Patroni version', () => {
  it.each([
    [3, 'master'],
    [4, 'primary'],
  ] as const)('names a primary %s → %s', (dialect, role) => {
    const snapshot = buildApiSnapshot(status('primary', dialect), null, me, 0);
    expect(snapshot.status.role).toBe(role);
    expect(snapshot.patroniDialect).toBe(dialect);
    // The metrics follow the same choice: Patroni 4 has no patroni_master.
    expect(renderPatroniMetrics(snapshot).includes('# TYPE patroni_master gauge')).toBe(dialect === 3);
  });

  it.each([3, 4] as const)('leaves the other roles alone (Patroni %s)', (dialect) => {
    for (const role of ['replica', 'standby_leader', 'demoted', 'uninitialized']) {
      expect(buildApiSnapshot(status(role, dialect), null, me, 0).status.role).toBe(role);
    }
  });
});

describe('GET /patroni sync_standby / quorum_standby (Patroni 4.1)', () => {
  function replicaIn(mode: unknown): EngineStatus {
    const cluster = {
      ...emptyCluster(),
      config: { version: '1', value: { synchronous_mode: mode } },
      sync: { version: '1', value: { leader: 'pg1', sync_standby: ['pg0'], quorum: 1 } },
    };
    return { ...status('replica', 4), cluster };
  }
  it('flags a replica of the /sync set quorum_standby in quorum mode, sync_standby in on mode, neither when off', () => {
    const flags = (mode: unknown) => {
      const s = buildApiSnapshot(replicaIn(mode), null, me, 0).status;
      return [s.sync_standby ?? false, s.quorum_standby ?? false];
    };
    expect(flags('quorum')).toEqual([false, true]);
    expect(flags(true)).toEqual([true, false]);
    expect(flags(false)).toEqual([false, false]);
  });
});
