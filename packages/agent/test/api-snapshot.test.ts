// GET /patroni's role follows the Patroni names the engine uses (pgha issue #17): `master` while
// the cluster speaks Patroni 3, `primary` with 4; other roles are the same in both.
import { describe, expect, it } from 'vitest';
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
