// The early probe (core/rules/race.ts) must ask exactly whom the leader race will ask, and
// nobody when no race can happen: it repeats the `lock-free` row's condition, so it is tested
// against decide() itself rather than kept in step by hand.
import { describe, expect, it } from 'vitest';
import { decide } from '../src/index.js';
import { earlyProbeTargets } from '../src/core/rules/race.js';
import { clusterWithLeader, config, snapshot, unlockedCluster } from './fixtures/snapshots.js';

const probeOf = (s: ReturnType<typeof snapshot>) => decide(s).actions.find((a) => a.kind === 'probe_peers');

describe('earlyProbeTargets', () => {
  it('with the lock free, asks the members the race asks', () => {
    const s = snapshot({ cluster: unlockedCluster() });
    const early = earlyProbeTargets(s.cluster, s.config, s.me.name);
    expect(early.length).toBeGreaterThan(0);
    expect(decide(s).rule).toBe('lock-free');
    expect(probeOf(s)).toEqual({ kind: 'probe_peers', members: early });
  });

  it('paused: no race, no early probe', () => {
    const s = snapshot({ cluster: unlockedCluster(), config: config({ pause: true }) });
    expect(earlyProbeTargets(s.cluster, s.config, s.me.name)).toEqual([]);
    expect(probeOf(s)).toBeUndefined();
  });

  it('with a leader, or the DCS unreachable, nobody is asked early', () => {
    const s = snapshot({ cluster: clusterWithLeader() });
    expect(earlyProbeTargets(s.cluster, s.config, s.me.name)).toEqual([]);
    expect(earlyProbeTargets({ error: 'down', failsafe: null }, s.config, s.me.name)).toEqual([]);
  });
});
