// The rules table as data (core/decide.ts): every row against every upkeep phase. For each
// phase a situation where that phase has work to do; each row's outcome gets the marker action
// exactly when the row lists a phase that does work there.
import { describe, expect, it } from 'vitest';
import type { Action, Snapshot, UpkeepPhase } from '../src/index.js';
import { RULES, UPKEEP_PHASES, withUpkeep } from '../src/index.js';
import { makeContext } from '../src/core/rules/context.js';
import { clusterWithLeader, config, leaderSnapshot, runningPrimary, runningReplica, snapshot } from './fixtures/snapshots.js';

interface Situation {
  s: Snapshot;
  /** The phases that have work to do in this situation. */
  fires: UpkeepPhase[];
  marker: (a: Action) => boolean;
}

const renew: Action = { kind: 'renew_lock', status: null };
const leaderWithoutConfig = leaderSnapshot();
const SITUATIONS: Record<UpkeepPhase, Situation> = {
  housekeeping: {
    s: { ...leaderWithoutConfig, cluster: { ...clusterWithLeader({ leader: 'pg0' }), config: null } },
    fires: ['housekeeping'],
    marker: (a) => a.kind === 'write_config',
  },
  'primary-slots': {
    s: leaderSnapshot({ config: config({}, { use_slots: true }) }),
    fires: ['primary-slots'],
    marker: (a) => a.kind === 'sync_slots',
  },
  'cascade-slots': {
    // A permanent physical slot on a nofailover member: only a plan made as a primary keeps one
    // (a replica keeps permanent slots only when it may become primary, as Patroni 3.2+).
    s: snapshot({ config: config({ slots: { keep: { type: 'physical' } } }, { use_slots: true }), me: { ...snapshot().me, tags: { nofailover: true } } }),
    fires: ['cascade-slots'],
    marker: (a) => a.kind === 'sync_slots',
  },
  'replica-slots': {
    // A slot nobody wants: any slot plan drops it.
    s: snapshot({ config: config({}, { use_slots: true }), local: runningReplica({ slots: [{ name: 'stale', type: 'physical', database: null, plugin: null, restartLsn: 10, confirmedFlushLsn: null }] }) }),
    fires: ['replica-slots', 'cascade-slots'],
    marker: (a) => a.kind === 'sync_slots',
  },
  'failsafe-topology': {
    s: leaderSnapshot({ config: config({ failsafe_mode: true }) }),
    fires: ['failsafe-topology'],
    marker: (a) => a.kind === 'write_failsafe',
  },
  'promote-checkpoint': {
    s: leaderSnapshot({ local: runningPrimary({ timeline: 2, checkpointTimeline: 1 }) }),
    fires: ['promote-checkpoint'],
    marker: (a) => a.kind === 'checkpoint',
  },
  'leader-sync': {
    s: leaderSnapshot({ config: config({ synchronous_mode: true }) }),
    fires: ['leader-sync'],
    marker: (a) => a.kind === 'write_sync' || a.kind === 'set_synchronous_standby_names',
  },
};

describe('the rules table', () => {
  it('names every row once', () => {
    const names = RULES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('every situation makes its own phase do work (else the walk below proves nothing)', () => {
    for (const phase of UPKEEP_PHASES) {
      const { s, marker } = SITUATIONS[phase];
      const ctx = makeContext(s, s.cluster as never, s.memory);
      expect(withUpkeep([phase], ctx, { code: 'leader.renewed', reason: 'r', actions: [renew] }).actions.some(marker), phase).toBe(true);
    }
  });

  for (const rule of RULES) {
    for (const phase of UPKEEP_PHASES) {
      const { s, fires, marker } = SITUATIONS[phase];
      const expected = rule.upkeep.some((p) => fires.includes(p));
      it(`${rule.name} × ${phase}: ${expected ? 'runs' : 'skips'} it`, () => {
        const ctx = makeContext(s, s.cluster as never, s.memory);
        expect(withUpkeep(rule.upkeep, ctx, { code: 'leader.renewed', reason: 'r', actions: [renew] }).actions.some(marker)).toBe(expected);
      });
    }
  }

  it('the upkeep rows, as a table', () => {
    expect(Object.fromEntries(RULES.map((r) => [r.name, r.upkeep.join(',')]))).toMatchInlineSnapshot(`
      {
        "after-bootstrap": "failsafe-topology",
        "empty-data-directory": "failsafe-topology",
        "follower": "housekeeping,replica-slots,failsafe-topology",
        "invalid-system-id": "failsafe-topology",
        "leader-with-lock": "housekeeping,primary-slots,failsafe-topology,promote-checkpoint,leader-sync",
        "lock-free": "housekeeping,failsafe-topology",
        "long-action": "housekeeping,failsafe-topology",
        "paused": "housekeeping,failsafe-topology,promote-checkpoint",
        "postgres-down": "housekeeping,failsafe-topology",
        "postgres-unknown": "failsafe-topology",
        "primary-in-standby-cluster": "housekeeping,failsafe-topology",
        "primary-starting": "housekeeping,failsafe-topology",
        "promote-backoff": "housekeeping,failsafe-topology",
        "promote-cancelled": "failsafe-topology",
        "reinitialize-requested": "housekeeping,failsafe-topology",
        "restart-requested": "housekeeping,failsafe-topology",
        "standby-leader": "housekeeping,cascade-slots,failsafe-topology",
        "standby-leader-down": "housekeeping,failsafe-topology",
        "system-id-mismatch": "failsafe-topology",
        "uninitialized-replica": "failsafe-topology",
      }
    `);
  });
});
