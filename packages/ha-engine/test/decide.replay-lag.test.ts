// `maximum_lag_on_failover` as a time (`10s`): parsing, and the leader race of a replica whose
// engine watched the leader's published position on a fake monotonic clock, cycle by cycle.
import { describe, expect, it } from 'vitest';
import type { FakeClock } from '@pgha/ha-engine/testing';
import { createFakeClock } from '@pgha/ha-engine/testing';
import type { Decision, EngineMemory, Snapshot } from '../src/index.js';
import { decide, initialMemory, parseMaximumLagOnFailover, resolveEngineConfig } from '../src/index.js';
import { clusterWithLeader, config, peer, runningReplica, snapshot, summary, unlockedCluster } from './fixtures/snapshots.js';

describe('parseMaximumLagOnFailover', () => {
  it.each([
    [1048576, { bytes: 1048576 }],
    [0, { bytes: 0 }],
    ['1048576', { bytes: 1048576 }],
    ['10s', { seconds: 10 }],
    [' 10 s ', { seconds: 10 }],
    ['1.5s', { seconds: 1.5 }],
    ['500ms', { seconds: 0.5 }],
    ['2min', { seconds: 120 }],
    ['1h', { seconds: 3600 }],
  ])('%j → %j', (value, limit) => {
    expect(parseMaximumLagOnFailover(value)).toEqual({ ok: true, limit });
  });

  it.each([
    ['10 parsecs', 'got "10 parsecs"'],
    ['lots', 'got "lots"'],
    ['', 'got ""'],
    [-1, 'got -1 (it must not be negative)'],
    ['-10s', 'got "-10s" (it must not be negative)'],
    [true, 'got true'],
    [Number.NaN, 'got NaN'],
  ])('%j is rejected', (value, why) => {
    expect(parseMaximumLagOnFailover(value)).toEqual({ ok: false, error: `expected a number of bytes or a duration such as 500ms, 10s or 2min, ${why}` });
  });

  it('resolves a time limit without a byte limit, and garbage from the DCS to the byte default with a warning', () => {
    const time = resolveEngineConfig({ maximum_lag_on_failover: '10s' });
    expect([time.config.maximumReplayLagOnFailover, time.config.maximumLagOnFailover, time.warnings]).toEqual([10, Number.MAX_SAFE_INTEGER, []]);
    const bytes = resolveEngineConfig({ maximum_lag_on_failover: 2097152 });
    expect([bytes.config.maximumReplayLagOnFailover, bytes.config.maximumLagOnFailover]).toEqual([null, 2097152]);
    const garbage = resolveEngineConfig({ maximum_lag_on_failover: '10 parsecs' });
    expect([garbage.config.maximumReplayLagOnFailover, garbage.config.maximumLagOnFailover]).toEqual([null, 1_048_576]);
    expect(garbage.warnings).toEqual([
      'config.maximum_lag_on_failover: expected a number of bytes or a duration such as 500ms, 10s or 2min, got "10 parsecs"; using 1048576',
    ]);
  });
});

const START_LSN = 50_331_648;
const promoted = { rule: 'lock-free', reason: 'promoted self to leader by acquiring session lock', actions: ['acquire_lock', 'activate_watchdog', 'promote'] };

/**
 * pg1, a replica, runs one cycle per simulated second on a fake clock: the leader pg0 publishes
 * `optime`, pg1 has replayed `replayed`. The memory each decision returns goes into the next.
 */
class Replica {
  memory: EngineMemory = initialMemory;
  readonly clock: FakeClock = createFakeClock({ start: 1_000_000 });
  readonly limit: unknown;
  constructor(limit: unknown) {
    this.limit = limit;
  }

  snapshotAt(optime: number, replayed: number, leader: boolean, extra: Partial<Snapshot> = {}): Snapshot {
    return snapshot({
      cluster: leader ? clusterWithLeader({ optime }) : unlockedCluster({ optime }),
      local: runningReplica({ lsn: replayed, receivedLsn: replayed, replayedLsn: replayed, streaming: leader }),
      config: config({ maximum_lag_on_failover: this.limit }),
      now: this.clock.now(),
      memory: this.memory,
      ...extra,
    });
  }

  /** `seconds` follower cycles, one second apart; `step(i)` gives the positions of cycle i. */
  async follow(seconds: number, step: (i: number) => { optime: number; replayed: number }): Promise<void> {
    for (let i = 0; i < seconds; i++) {
      const { optime, replayed } = step(i);
      const d = decide(this.snapshotAt(optime, replayed, true));
      expect(d.rule).toBe('follower');
      this.memory = d.memory;
      await this.clock.advance(1000);
    }
  }

  /** The leader race once the lock is free: the probe phase (if any), then the decision with peers. */
  race(optime: number, replayed: number, extra: Partial<Snapshot> = {}): Decision {
    const first = decide(this.snapshotAt(optime, replayed, false, extra));
    if (!first.actions.some((a) => a.kind === 'probe_peers')) return first;
    return decide(this.snapshotAt(optime, replayed, false, { peers: [peer('pg0', { reachable: false }), peer('pg2', { walPosition: replayed })], ...extra }));
  }
}

describe('maximum_lag_on_failover as a replay time', () => {
  it('a replica that kept up promotes', async () => {
    const r = new Replica('10s');
    await r.follow(20, (i) => ({ optime: START_LSN + i * 65536, replayed: START_LSN + i * 65536 }));
    const last = START_LSN + 19 * 65536;
    // The lease runs out (ttl) with nothing new published: still caught up, lag 0.
    await r.clock.advance(10_000);
    expect(r.memory.replayLag?.published.at(-1)?.lsn).toBe(last);
    expect(summary(r.race(last, last))).toEqual(promoted);
  });

  it('a replica that fell 12 s behind the leader does not promote with a 10 s limit', async () => {
    const r = new Replica('10s');
    const stuck = START_LSN + 5 * 65536;
    // Caught up for 5 s, then replay stalls while the leader keeps writing for 12 more seconds.
    await r.follow(18, (i) => ({ optime: START_LSN + i * 65536, replayed: Math.min(START_LSN + i * 65536, stuck) }));
    await r.clock.advance(10_000);
    const d = r.race(START_LSN + 17 * 65536, stuck);
    expect(summary(d)).toEqual({ rule: 'lock-free', reason: 'following a different leader because i am not the healthiest node', actions: [] });
    expect(d.notes).toEqual(['not healthy enough for leader race: replay lag 12.0 s exceeds maximum_lag_on_failover 10s']);
  });

  it('the same replica promotes when 8 s behind, or once it has replayed what the leader published', async () => {
    const within = new Replica('10s');
    const stuck = START_LSN + 5 * 65536;
    await within.follow(14, (i) => ({ optime: START_LSN + i * 65536, replayed: Math.min(START_LSN + i * 65536, stuck) }));
    expect(summary(within.race(START_LSN + 13 * 65536, stuck))).toEqual(promoted);

    const caughtUp = new Replica('10s');
    await caughtUp.follow(18, (i) => ({ optime: START_LSN + i * 65536, replayed: Math.min(START_LSN + i * 65536, stuck) }));
    // Replay resumes after the leader died: with everything published replayed, the lag is 0.
    const last = START_LSN + 17 * 65536;
    expect(summary(caughtUp.race(last, last))).toEqual(promoted);
  });

  it('does not block a manual failover to a named candidate (as the byte check does not)', async () => {
    const r = new Replica('10s');
    const stuck = START_LSN + 5 * 65536;
    await r.follow(18, (i) => ({ optime: START_LSN + i * 65536, replayed: Math.min(START_LSN + i * 65536, stuck) }));
    const failover = unlockedCluster({ optime: START_LSN + 17 * 65536, failover: { member: 'pg1' } });
    const d = decide(r.snapshotAt(START_LSN + 17 * 65536, stuck, false, { cluster: failover }));
    expect(summary(d).reason).toBe('promoted self to leader by acquiring session lock');
  });

  it('the byte form is unchanged: the same 12 s stall within 1 MiB promotes, beyond it does not', async () => {
    const r = new Replica(1048576);
    const stuck = START_LSN + 5 * 65536;
    await r.follow(18, (i) => ({ optime: START_LSN + i * 65536, replayed: Math.min(START_LSN + i * 65536, stuck) }));
    expect(summary(r.race(START_LSN + 17 * 65536, stuck))).toEqual(promoted);
    const far = r.race(stuck + 1_048_577, stuck);
    expect(far.notes).toEqual(['My wal position exceeds maximum replication lag']);
  });

  it('forgets the tracking while leading, and starts from a lower bound after an agent restart', async () => {
    const r = new Replica('10s');
    await r.follow(3, (i) => ({ optime: START_LSN + i * 65536, replayed: START_LSN + i * 65536 }));
    expect(r.memory.replayLag).not.toBeNull();
    const lead = decide({ ...r.snapshotAt(START_LSN, START_LSN, true), me: { name: 'pg0', connUrl: 'c', apiUrl: 'a', tags: {}, version: 'v' } });
    expect(lead.memory.replayLag).toBeNull();
    // A fresh agent (initial memory) behind the leader: counted from its first observation.
    const fresh = new Replica('10s');
    await fresh.follow(5, (i) => ({ optime: START_LSN + (i + 10) * 65536, replayed: START_LSN }));
    expect(fresh.memory.replayLag?.caughtUpAt).toBe(1_000_000);
    expect(fresh.memory.replayLag?.published.at(-1)?.seenAt).toBe(1_004_000);
    // With the limit in bytes nothing is tracked.
    const bytes = new Replica(1048576);
    await bytes.follow(3, (i) => ({ optime: START_LSN + i * 65536, replayed: START_LSN }));
    expect(bytes.memory.replayLag).toBeNull();
  });

  it('a replica steadily 2 s behind a busy leader (never exactly caught up) has a lag of about 2 s, not its age', async () => {
    const r = new Replica('10s');
    // The leader writes every second; the replica replays what was published two cycles before.
    await r.follow(40, (i) => ({ optime: START_LSN + (i + 2) * 65536, replayed: START_LSN + i * 65536 }));
    expect(r.memory.replayLag?.caughtUpAt).toBe(1_000_000);
    expect(summary(r.race(START_LSN + 41 * 65536, START_LSN + 39 * 65536))).toEqual(promoted);
    // Had it replayed only what was published at 25 s, with the leader's last change at 39 s, it
    // would be 14 s behind and refused: the remembered positions give the lag.
    const behind = r.race(START_LSN + 41 * 65536, START_LSN + 27 * 65536);
    expect(behind.notes).toEqual(['not healthy enough for leader race: replay lag 14.0 s exceeds maximum_lag_on_failover 10s']);
  });
});
