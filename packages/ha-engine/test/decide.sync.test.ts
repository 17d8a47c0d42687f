// Synchronous replication (issue #8): the leader's choice of synchronous standbys, the order in
// which synchronous_standby_names and the `sync` key change, and who may promote.
import type { Cluster, SyncState } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import type { Action, Decision, EngineMemory, Snapshot, SynchronousStandbySetting, WalSenderState } from '../src/index.js';
import { decide, initialMemory, resolveEngineConfig } from '../src/index.js';
import { SYNC_RECHECK_MS, SYNC_WATCH_MS } from '../src/core/rules/sync.js';
import { parseSynchronousStandbyNames } from '../src/core/synchronous-standby-names.js';
import { actionOf, clusterWithLeader, config, leaderSnapshot, member, peer, runningPrimary, runningReplica, snapshot, summary, unlockedCluster } from './fixtures/snapshots.js';

const PRIMARY_LSN = 50_331_648;

function sender(name: string, overrides: Partial<WalSenderState> = {}): WalSenderState {
  return { name, state: 'streaming', syncState: 'async', flushLsn: PRIMARY_LSN, replayLsn: PRIMARY_LSN, ...overrides };
}

function withSync(cluster: Cluster, sync: Partial<SyncState> | null, version = '7'): Cluster {
  return { ...cluster, sync: sync ? { value: { leader: 'pg0', sync_standby: [], quorum: 0, ...sync }, version } : null };
}

function syncActions(d: Decision): string[] {
  return summary(d).actions.filter((a) => /sync/.test(a) && !a.startsWith('sync_slots'));
}

/**
 * A toy primary for multi-cycle tests: it applies the decision's actions (sync key writes,
 * synchronous_standby_names) and reports, on the next read, the listed streaming standbys as
 * synchronous, as PostgreSQL would once the reload is processed.
 */
class SyncWorld {
  cluster: Cluster;
  standbyNames = '';
  memory: EngineMemory = initialMemory;
  lsn = PRIMARY_LSN;
  /** Monotonic ms of the next snapshot; each cycle advances it by `step`. */
  now = 1_000_000;
  step = 250;
  /** Standbys that stream but never become synchronous (a walsender stuck in PostgreSQL). */
  neverSync = new Set<string>();
  /** Every change, in order: `ssn:<value>` or `key:<standbys>`. */
  log: string[] = [];
  dynamic: Record<string, unknown>;
  streaming: string[];
  constructor(dynamic: Record<string, unknown>, streaming: string[] = ['pg1', 'pg2'], cluster: Cluster = clusterWithLeader()) {
    this.dynamic = dynamic;
    this.streaming = streaming;
    this.cluster = cluster;
  }

  snapshot(): Snapshot {
    const setting = parseSynchronousStandbyNames(this.standbyNames);
    const listed = new Set(setting?.names ?? []);
    const syncState = setting?.kind === 'any' ? 'quorum' : 'sync';
    const replication = this.streaming.map((n) =>
      sender(n, { syncState: listed.has(n) && !this.neverSync.has(n) ? syncState : 'async', flushLsn: this.lsn, replayLsn: this.lsn }),
    );
    return leaderSnapshot({
      now: this.now,
      lock: { held: true, validUntil: this.now + 20_000 },
      cluster: this.cluster,
      config: config(this.dynamic),
      local: runningPrimary({ lsn: this.lsn, replication, synchronousStandbyNames: this.standbyNames }),
      memory: this.memory,
    });
  }

  cycle(): Decision {
    const d = decide(this.snapshot());
    this.memory = d.memory;
    for (const a of d.actions) this.apply(a);
    this.lsn += 1000;
    this.now += this.step;
    return d;
  }

  apply(a: Action): void {
    if (a.kind === 'write_sync') {
      this.cluster = withSync(this.cluster, { leader: a.leader, sync_standby: a.standbys, quorum: a.quorum }, String(Number(this.cluster.sync?.version ?? 7) + 1));
      this.log.push(`key:${a.standbys.join(',')}${a.quorum ? `/q${a.quorum}` : ''}`);
    } else if (a.kind === 'delete_sync') {
      this.cluster = { ...this.cluster, sync: null };
      this.log.push('key:deleted');
    } else if (a.kind === 'set_synchronous_standby_names') {
      this.standbyNames = render(a.setting);
      this.log.push(`ssn:${this.standbyNames}`);
    }
  }

  get published(): string[] {
    return this.cluster.sync?.value.sync_standby ?? [];
  }
}

function render(setting: SynchronousStandbySetting | null): string {
  if (!setting || setting.names.length === 0) return '';
  const names = setting.names.join(',');
  if (setting.kind === 'any') return `ANY ${setting.count} (${names})`;
  return setting.names.length === 1 ? names : `${setting.count} (${names})`;
}

describe('configuration', () => {
  it('parses the synchronous keys, with Patroni spellings and defaults', () => {
    const parse = (dynamic: Record<string, unknown>) => resolveEngineConfig(dynamic);
    expect(parse({}).config).toMatchObject({ synchronousMode: 'off', synchronousModeStrict: false, synchronousNodeCount: 1, maximumLagOnSyncnode: -1 });
    expect(parse({ synchronous_mode: true }).config.synchronousMode).toBe('on');
    expect(parse({ synchronous_mode: 'on' }).config.synchronousMode).toBe('on');
    expect(parse({ synchronous_mode: 'off' }).config.synchronousMode).toBe('off');
    expect(parse({ synchronous_mode: 'quorum', synchronous_node_count: 2 }).config).toMatchObject({ synchronousMode: 'quorum', synchronousNodeCount: 2 });
    expect(parse({ synchronous_mode_strict: true, maximum_lag_on_syncnode: '1048576' }).config).toMatchObject({
      synchronousModeStrict: true,
      maximumLagOnSyncnode: 1_048_576,
    });
  });

  it('warns with the key path and falls back on bad values', () => {
    const { config: c, warnings } = resolveEngineConfig({ synchronous_mode: 'sometimes', synchronous_node_count: 0, maximum_lag_on_syncnode: 'far' });
    expect(c).toMatchObject({ synchronousMode: 'off', synchronousNodeCount: 1, maximumLagOnSyncnode: -1 });
    expect(warnings).toEqual([
      expect.stringMatching(/^config\.synchronous_mode: expected on, off or quorum, got "sometimes"/),
      expect.stringMatching(/^config\.synchronous_node_count: expected a number >= 1, got 0/),
      expect.stringMatching(/^config\.maximum_lag_on_syncnode: .*"far"/),
    ]);
  });

  it('reads synchronous_standby_names back in every form PostgreSQL accepts', () => {
    expect(parseSynchronousStandbyNames('')).toBeNull();
    expect(parseSynchronousStandbyNames('pg1')).toEqual({ kind: 'priority', count: 1, names: ['pg1'] });
    expect(parseSynchronousStandbyNames('2 (pg1, "Pg2")')).toEqual({ kind: 'priority', count: 2, names: ['pg1', 'Pg2'] });
    expect(parseSynchronousStandbyNames('FIRST 1 (a,b)')).toEqual({ kind: 'priority', count: 1, names: ['a', 'b'] });
    expect(parseSynchronousStandbyNames('ANY 2 ("a""b",C)')).toEqual({ kind: 'any', count: 2, names: ['a"b', 'c'] });
    expect(parseSynchronousStandbyNames('*')).toEqual({ kind: 'priority', count: 1, names: ['*'] });
    expect(parseSynchronousStandbyNames('2 (a,')).toBeNull();
  });
});

describe('picking synchronous standbys', () => {
  /** The setting the leader asks for; null when it leaves it empty. */
  const pick = (dynamic: Record<string, unknown>, replication: WalSenderState[], members = clusterWithLeader().members) => {
    const d = decide(
      leaderSnapshot({
        cluster: clusterWithLeader({ members }),
        config: config({ synchronous_mode: true, ...dynamic }),
        local: runningPrimary({ replication, synchronousStandbyNames: '' }),
      }),
    );
    return d.actions.some((a) => a.kind === 'set_synchronous_standby_names') ? actionOf(d, 'set_synchronous_standby_names').setting : null;
  };

  it('prefers the standby that replayed furthest, then by name', () => {
    expect(pick({}, [sender('pg1', { replayLsn: PRIMARY_LSN - 100 }), sender('pg2')])?.names).toEqual(['pg2']);
    expect(pick({}, [sender('pg2'), sender('pg1')])?.names).toEqual(['pg1']);
  });

  it('sync_priority comes before position; nosync and sync_priority 0 never become synchronous', () => {
    const members = [
      member('pg0', { role: 'primary' }),
      member('pg1', { tags: { sync_priority: 5 } }),
      member('pg2', { tags: { nosync: true } }),
      member('pg3', { tags: { sync_priority: 0 } }),
      member('pg4'),
    ];
    const replication = [sender('pg1', { replayLsn: 1 }), sender('pg2'), sender('pg3'), sender('pg4')];
    expect(pick({ synchronous_node_count: 3 }, replication, members)).toEqual({ kind: 'priority', count: 2, names: ['pg1', 'pg4'] });
  });

  it('skips standbys lagging more than maximum_lag_on_syncnode, and ones not streaming or not members', () => {
    const replication = [
      sender('pg1', { replayLsn: PRIMARY_LSN - 2_000_000 }),
      sender('pg2', { state: 'catchup' }),
      sender('pgha_basebackup'),
    ];
    expect(pick({ maximum_lag_on_syncnode: 1_048_576 }, replication)).toBeNull();
    expect(pick({ maximum_lag_on_syncnode: -1 }, replication)?.names).toEqual(['pg1']);
  });

  it('keeps the current synchronous standby when another one is ahead, so the choice does not flap', () => {
    const d = decide(
      leaderSnapshot({
        cluster: withSync(clusterWithLeader(), { sync_standby: ['pg1'] }),
        config: config({ synchronous_mode: true }),
        local: runningPrimary({
          replication: [sender('pg1', { syncState: 'sync', replayLsn: PRIMARY_LSN - 10 }), sender('pg2')],
          synchronousStandbyNames: 'pg1',
        }),
        memory: { ...initialMemory, syncSince: { standbyNames: 'pg1', lsn: 0 } },
      }),
    );
    expect(syncActions(d)).toEqual([]);
    expect(summary(d).reason).toBe('no action. I am (pg0), the leader with the lock');
  });
});

describe('keeping synchronous_standby_names and the sync key in step', () => {
  it('adds to the setting first and publishes only once PostgreSQL reports the standby synchronous', () => {
    const w = new SyncWorld({ synchronous_mode: true });
    // Cycle 1: claims the key (nobody listed yet) and sets the setting.
    expect(syncActions(w.cycle())).toEqual(['write_sync(pg0:)', 'set_synchronous_standby_names(pg1)']);
    expect(w.published).toEqual([]);
    // Cycle 2: PostgreSQL reports pg1 sync, but the setting was only just seen in effect.
    expect(syncActions(w.cycle())).toEqual([]);
    // Cycle 3: pg1 flushed past the position at which the setting was seen: published.
    const d = w.cycle();
    expect(syncActions(d)).toEqual(['write_sync(pg0:pg1)']);
    expect(d.notes).toContain("Synchronous standby status assigned to ['pg1']");
    expect(w.log).toEqual(['key:', 'ssn:pg1', 'key:pg1']);
    // Steady state: nothing to do.
    expect(syncActions(w.cycle())).toEqual([]);
  });

  it('does not publish a standby that has not flushed what was committed before it became synchronous', () => {
    const s = leaderSnapshot({
      cluster: withSync(clusterWithLeader(), { sync_standby: [] }),
      config: config({ synchronous_mode: true }),
      local: runningPrimary({ replication: [sender('pg1', { syncState: 'sync', flushLsn: 900 })], synchronousStandbyNames: 'pg1' }),
      memory: { ...initialMemory, syncSince: { standbyNames: 'pg1', lsn: 1000 } },
    });
    expect(syncActions(decide(s))).toEqual([]);
  });

  it('removes a standby from the key first, then from the setting, and publishes its replacement later', () => {
    const w = new SyncWorld({ synchronous_mode: true });
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.published).toEqual(['pg1']);
    w.log = [];
    w.streaming = ['pg2']; // pg1 goes away
    expect(syncActions(w.cycle())).toEqual(['write_sync(pg0:)', 'set_synchronous_standby_names(pg2)']);
    expect(w.log).toEqual(['key:', 'ssn:pg2']);
    w.cycle();
    w.cycle();
    expect(w.published).toEqual(['pg2']);
    expect(w.log).toEqual(['key:', 'ssn:pg2', 'key:pg2']);
  });

  it('a failed key write stops the cycle before the setting changes', () => {
    const s = leaderSnapshot({
      cluster: withSync(clusterWithLeader(), { sync_standby: ['pg1'] }),
      config: config({ synchronous_mode: true }),
      local: runningPrimary({ replication: [sender('pg2')], synchronousStandbyNames: 'pg1' }),
    });
    const d = decide(s);
    const write = actionOf(d, 'write_sync');
    expect(write).toMatchObject({ standbys: [], expectVersion: '7', otherwise: { reason: 'Synchronous replication key updated by someone else', actions: [] } });
    const kinds = d.actions.map((a) => a.kind);
    expect(kinds.indexOf('write_sync')).toBeLessThan(kinds.indexOf('set_synchronous_standby_names'));
  });

  it('synchronous_node_count 2 makes both standbys synchronous', () => {
    const w = new SyncWorld({ synchronous_mode: true, synchronous_node_count: 2 });
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.standbyNames).toBe('2 (pg1,pg2)');
    expect(w.published).toEqual(['pg1', 'pg2']);
  });

  it('strict mode with no standby makes commits wait for any standby', () => {
    const w = new SyncWorld({ synchronous_mode: true, synchronous_mode_strict: true }, []);
    const d = w.cycle();
    expect(syncActions(d)).toEqual(['write_sync(pg0:)', 'set_synchronous_standby_names(*)']);
    expect(d.notes).toContain(
      'No active replication connections from Patroni members and synchronous_mode_strict is requested. Commits will be delayed.',
    );
    // A standby under '*' is never published: PostgreSQL may have picked any connection.
    w.streaming = ['pg1'];
    expect(syncActions(w.cycle())).toEqual(['set_synchronous_standby_names(pg1)']);
  });

  it('without strict, no standby means no synchronous_standby_names', () => {
    const w = new SyncWorld({ synchronous_mode: true }, []);
    expect(syncActions(w.cycle())).toEqual(['write_sync(pg0:)']);
    expect(w.standbyNames).toBe('');
  });

  it('off: deletes the sync key first, then clears the setting', () => {
    const w = new SyncWorld({ synchronous_mode: true });
    for (let i = 0; i < 3; i++) w.cycle();
    w.log = [];
    w.dynamic = { synchronous_mode: false };
    const d = w.cycle();
    expect(syncActions(d)).toEqual(['delete_sync', 'set_synchronous_standby_names(none)']);
    expect(d.notes).toContain('Disabled synchronous replication');
    expect(w.log).toEqual(['key:deleted', 'ssn:']);
    expect(syncActions(w.cycle())).toEqual([]);
  });

  it('off leaves a synchronous_standby_names it never managed alone', () => {
    const s = leaderSnapshot({ local: runningPrimary({ replication: [sender('pg1')], synchronousStandbyNames: 'pg1' }) });
    expect(syncActions(decide(s))).toEqual([]);
  });

  it('a replica or a leader handing over does not touch synchronous replication', () => {
    expect(syncActions(decide(snapshot({ config: config({ synchronous_mode: true }) })))).toEqual([]);
    const handingOver = leaderSnapshot({
      cluster: clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' } }),
      config: config({ synchronous_mode: true }),
      local: runningPrimary({ replication: [sender('pg1')], synchronousStandbyNames: '' }),
      peers: [peer('pg1'), peer('pg2')],
    });
    expect(syncActions(decide(handingOver))).toEqual([]);
  });
});

describe('quorum mode', () => {
  it('lists every eligible standby as ANY k and publishes how many votes a candidate needs', () => {
    const w = new SyncWorld({ synchronous_mode: 'quorum', synchronous_node_count: 1 });
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.standbyNames).toBe('ANY 1 (pg1,pg2)');
    // A commit is on one of two: a candidate needs the other's vote.
    expect(w.cluster.sync?.value).toEqual({ leader: 'pg0', sync_standby: ['pg1', 'pg2'], quorum: 1 });
  });

  it('raises the votes needed before lowering the acknowledgements, lowers them after', () => {
    const w = new SyncWorld({ synchronous_mode: 'quorum', synchronous_node_count: 2 });
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.cluster.sync?.value.quorum).toBe(0);
    w.log = [];
    w.dynamic = { synchronous_mode: 'quorum', synchronous_node_count: 1 };
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.log).toEqual(['key:pg1,pg2/q1', 'ssn:ANY 1 (pg1,pg2)']);
    w.log = [];
    w.dynamic = { synchronous_mode: 'quorum', synchronous_node_count: 2 };
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.log).toEqual(['ssn:ANY 2 (pg1,pg2)', 'key:pg1,pg2']);
  });

  it('leaving quorum for on lists nobody until the priority setting is in effect', () => {
    const w = new SyncWorld({ synchronous_mode: 'quorum' });
    for (let i = 0; i < 3; i++) w.cycle();
    w.log = [];
    w.dynamic = { synchronous_mode: 'on' };
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.log).toEqual(['key:', 'ssn:pg1', 'key:pg1']);
  });
});

  it('quorum: a departing standby stays in the key until the smaller setting is in effect and the rest hold all WAL; every key on the way can be met', () => {
    const w = new SyncWorld({ synchronous_mode: 'quorum', synchronous_node_count: 1 });
    for (let i = 0; i < 3; i++) w.cycle();
    expect(w.cluster.sync?.value).toEqual({ leader: 'pg0', sync_standby: ['pg1', 'pg2'], quorum: 1 });
    w.log = [];
    w.streaming = ['pg2']; // pg1 goes away
    const keys: SyncState[] = [];
    for (let i = 0; i < 4; i++) {
      w.cycle();
      keys.push(w.cluster.sync!.value);
    }
    expect(w.log).toEqual(['ssn:ANY 1 (pg2)', 'key:pg2']);
    // A candidate plus its votes must fit in the list, or no failover could ever happen.
    for (const k of keys) expect(k.quorum, JSON.stringify(k)).toBeLessThan(k.sync_standby.length);
    expect(w.cluster.sync?.value).toEqual({ leader: 'pg0', sync_standby: ['pg2'], quorum: 0 });

    // The leader dies right after the setting changed (key still pg1,pg2 / 1): pg2 wins with pg1's vote.
    const midway = withSync(unlockedCluster(), { sync_standby: ['pg1', 'pg2'], quorum: 1 });
    const d = decide(snapshot({ me: 'pg2', cluster: midway, config: config({ synchronous_mode: 'quorum' }), peers: [peer('pg0', { reachable: false }), peer('pg1')] }));
    expect(summary(d).reason).toBe('promoted self to leader by acquiring session lock');

    // pg1 comes back: it joins the key (votes raised) before the setting lists it.
    w.log = [];
    w.streaming = ['pg1', 'pg2'];
    for (let i = 0; i < 4; i++) w.cycle();
    expect(w.log).toEqual(['key:pg2,pg1/q1', 'ssn:ANY 1 (pg2,pg1)']);
  });

  it('quorum: fewer votes only once every standby left in the key has flushed past where the setting took effect', () => {
    const behind = leaderSnapshot({
      cluster: withSync(clusterWithLeader(), { sync_standby: ['pg1', 'pg2'], quorum: 1 }),
      config: config({ synchronous_mode: 'quorum', synchronous_node_count: 2 }),
      local: runningPrimary({
        lsn: PRIMARY_LSN,
        replication: [sender('pg1', { syncState: 'quorum', flushLsn: PRIMARY_LSN - 10 }), sender('pg2', { syncState: 'quorum' })],
        synchronousStandbyNames: 'ANY 2 (pg1,pg2)',
      }),
      memory: { ...initialMemory, syncSince: { standbyNames: 'ANY 2 (pg1,pg2)', lsn: PRIMARY_LSN } },
    });
    expect(syncActions(decide(behind))).toEqual([]);
    const caughtUp = { ...behind, local: { ...behind.local, replication: [sender('pg1', { syncState: 'quorum' }), sender('pg2', { syncState: 'quorum' })] } };
    expect(actionOf(decide(caughtUp), 'write_sync')).toMatchObject({ standbys: ['pg1', 'pg2'], quorum: 0 });
  });

describe('who may promote', () => {
  const syncOn = config({ synchronous_mode: true });
  const keyed = (sync: Partial<SyncState>) => withSync(unlockedCluster(), sync);

  it('only the published synchronous standby races for the lock', () => {
    const d = decide(snapshot({ me: 'pg2', cluster: keyed({ sync_standby: ['pg1'] }), config: syncOn }));
    expect(summary(d).reason).toBe('following a different leader because i am not the healthiest node');
    expect(d.notes).toContain('I am not a synchronous standby (sync_standby: pg1)');

    const s = snapshot({ cluster: keyed({ sync_standby: ['pg1'] }), config: syncOn, peers: [peer('pg0', { reachable: false }), peer('pg2')] });
    expect(summary(decide(s)).reason).toBe('promoted self to leader by acquiring session lock');
  });

  it('the async standby being ahead does not stop the sync standby; the former leader ahead is ignored', () => {
    const s = snapshot({
      cluster: keyed({ sync_standby: ['pg1'] }),
      config: syncOn,
      peers: [peer('pg0', { walPosition: PRIMARY_LSN + 10 }), peer('pg2', { walPosition: PRIMARY_LSN + 10 })],
    });
    const d = decide(s);
    expect(summary(d).reason).toBe('promoted self to leader by acquiring session lock');
    expect(d.notes).toContain('Ignoring the former leader being ahead of us');
  });

  it('the winner claims the sync key before promoting, and starts strict with commits waiting', () => {
    const s = snapshot({
      cluster: keyed({ sync_standby: ['pg1'] }),
      config: config({ synchronous_mode: true, synchronous_mode_strict: true }),
      peers: [peer('pg0', { reachable: false }), peer('pg2')],
    });
    const d = decide(s);
    expect(summary(d).actions).toEqual([
      'acquire_lock',
      'activate_watchdog',
      'write_sync(pg1:)',
      'set_synchronous_standby_names(*)',
      'promote',
    ]);
    expect(actionOf(d, 'write_sync')).toMatchObject({
      expectVersion: '7',
      otherwise: { reason: 'Postponing promotion because synchronous replication state was updated by somebody else' },
    });
  });

  it('without a sync key naming a leader, the usual rules apply (as Patroni)', () => {
    const d = decide(snapshot({ me: 'pg2', cluster: unlockedCluster(), config: syncOn, peers: [peer('pg0', { reachable: false }), peer('pg1')] }));
    expect(summary(d).reason).toBe('promoted self to leader by acquiring session lock');
  });

  it('quorum: a candidate needs the votes the key asks for', () => {
    const quorum = config({ synchronous_mode: 'quorum' });
    const cluster = keyed({ sync_standby: ['pg1', 'pg2'], quorum: 1 });
    const lonely = decide(snapshot({ cluster, config: quorum, peers: [peer('pg0', { reachable: false }), peer('pg2', { reachable: false })] }));
    expect(summary(lonely).reason).toBe('following a different leader because i am not the healthiest node');
    expect(lonely.notes).toContain('Not enough quorum votes: got 0 of 1');

    const voted = decide(snapshot({ cluster, config: quorum, peers: [peer('pg0', { reachable: false }), peer('pg2')] }));
    expect(summary(voted).reason).toBe('promoted self to leader by acquiring session lock');
    expect(voted.notes).toContain('Got quorum vote from pg2');

    // A voter ahead of us (even one that may not promote) has commits we may lack.
    const members = [member('pg0'), member('pg1'), member('pg2', { tags: { nofailover: true } })];
    const ahead = decide(
      snapshot({
        cluster: withSync(unlockedCluster({ members }), { sync_standby: ['pg1', 'pg2'], quorum: 1 }),
        config: quorum,
        peers: [peer('pg0', { reachable: false }), peer('pg2', { walPosition: PRIMARY_LSN + 1, tags: { nofailover: true } })],
      }),
    );
    expect(ahead.notes).toContain('Wal position of pg2 is ahead of my wal position');
    expect(summary(ahead).reason).toBe('following a different leader because i am not the healthiest node');
  });

  it('a switchover to an asynchronous standby is refused; a manual failover to it goes ahead', () => {
    const local = runningPrimary({ replication: [sender('pg1', { syncState: 'sync' }), sender('pg2')], synchronousStandbyNames: 'pg1' });
    const peers = [peer('pg1'), peer('pg2')];
    const switchover = decide(
      leaderSnapshot({
        cluster: withSync(clusterWithLeader({ failover: { leader: 'pg0', member: 'pg2' } }), { sync_standby: ['pg1'] }),
        config: syncOn,
        local,
        peers,
      }),
    );
    expect(summary(switchover).actions).toContain('clear_failover');
    expect(switchover.notes).toContain('switchover: candidate=pg2 does not match with sync_standbys=pg1');

    const toSync = decide(
      leaderSnapshot({
        cluster: withSync(clusterWithLeader({ failover: { leader: 'pg0', member: 'pg1' } }), { sync_standby: ['pg1'] }),
        config: syncOn,
        local,
        peers,
      }),
    );
    expect(summary(toSync).reason).toBe('switchover: demoting myself');

    const failover = decide(
      leaderSnapshot({
        cluster: withSync(clusterWithLeader({ failover: { member: 'pg2' } }), { sync_standby: ['pg1'] }),
        config: syncOn,
        local,
        peers,
      }),
    );
    expect(summary(failover).reason).toBe('manual failover: demoting myself');
  });

  it('a switchover without a candidate needs a synchronous standby', () => {
    const d = decide(
      leaderSnapshot({
        cluster: withSync(clusterWithLeader({ failover: { leader: 'pg0' } }), { sync_standby: [] }),
        config: syncOn,
        local: runningPrimary({ replication: [sender('pg1')], synchronousStandbyNames: '' }),
      }),
    );
    expect(summary(d).actions).toContain('clear_failover');
    expect(d.notes).toContain('manual failover: members list is empty');
  });

  it('in the race after a switchover, only synchronous standbys stand in for an unhealthy candidate', () => {
    const cluster = withSync(unlockedCluster({ failover: { leader: 'pg0', member: 'pg1' } }), { sync_standby: ['pg1'] });
    const d = decide(snapshot({ me: 'pg2', cluster, config: syncOn, peers: [peer('pg0'), peer('pg1', { reachable: false })] }));
    expect(summary(d).reason).toBe('following a different leader because i am not the healthiest node');
    expect(d.notes).toContain('switchover: I am not a synchronous standby');
  });

  it('a replica keeps following (sanity: the leader replica path is untouched)', () => {
    expect(summary(decide(snapshot({ local: runningReplica(), config: syncOn }))).reason).toBe(
      'no action. I am (pg1), a secondary, and following a leader (pg0)',
    );
  });
});

describe('the sync key follows the setting without waiting for loop_wait (issue #22)', () => {
  /** The decision asks for its next look sub-second. */
  const quick = (d: Decision): boolean => d.wakeAfterMs !== undefined && d.wakeAfterMs === SYNC_RECHECK_MS && d.wakeAfterMs < 1000;
  /** Cycles until the key names `who`, each at the wake-up the previous decision asked for. */
  const untilPublished = (world: SyncWorld, who: string[], limit = 20): Decision[] => {
    const decisions: Decision[] = [];
    while (world.published.join() !== who.join() && decisions.length < limit) {
      const d = world.cycle();
      decisions.push(d);
      world.now += (d.wakeAfterMs ?? 10_000) - world.step;
    }
    return decisions;
  };

  it('switched on: quick re-checks from the new setting until the standby is published, then loop_wait again', () => {
    const world = new SyncWorld({ synchronous_mode: true, loop_wait: 10 });
    const decisions = untilPublished(world, ['pg1']);
    expect(world.published).toEqual(['pg1']);
    expect(world.log).toEqual(['key:', 'ssn:pg1', 'key:pg1']);
    // Every cycle before the one that wrote pg1 into the key asked for a quick look: a few of them.
    expect(decisions.length).toBeGreaterThan(1);
    expect(decisions.slice(0, -1).every(quick)).toBe(true);
    expect(decisions.at(-1)?.wakeAfterMs).toBeUndefined();
    expect(decisions.length).toBeLessThanOrEqual(4);
    expect(world.cycle().wakeAfterMs).toBeUndefined();
  });

  it('a synchronous standby replaced: the new one is published within quick re-checks', () => {
    const world = new SyncWorld({ synchronous_mode: true, loop_wait: 10 });
    untilPublished(world, ['pg1']);
    world.streaming = ['pg2'];
    const decisions = untilPublished(world, ['pg2']);
    expect(world.published).toEqual(['pg2']);
    expect(decisions.length).toBeGreaterThan(1);
    expect(decisions.slice(0, -1).every(quick)).toBe(true);
    expect(decisions.length).toBeLessThanOrEqual(4);
  });

  it('quorum votes raised: quick re-checks until the key has the wanted votes', () => {
    const world = new SyncWorld({ synchronous_mode: 'quorum', synchronous_node_count: 1, loop_wait: 10 });
    untilPublished(world, ['pg1', 'pg2']);
    expect(world.cluster.sync?.value.quorum).toBe(1);
    world.dynamic = { ...world.dynamic, synchronous_node_count: 2 };
    expect(quick(world.cycle())).toBe(true);
    for (let i = 0; i < 6 && world.cluster.sync?.value.quorum !== 0; i++) world.cycle();
    expect(world.cluster.sync?.value.quorum).toBe(0);
    expect(world.cycle().wakeAfterMs).toBeUndefined();
  });

  it('a standby that never becomes synchronous: quick re-checks stop after the watch window', () => {
    const world = new SyncWorld({ synchronous_mode: true, loop_wait: 10 }, ['pg1']);
    world.neverSync.add('pg1');
    const looks: Decision[] = [];
    let d = world.cycle();
    while (quick(d) && looks.length < 1000) {
      looks.push(d);
      d = world.cycle();
    }
    expect(world.published).toEqual([]);
    expect(d.wakeAfterMs).toBeUndefined();
    expect(looks.length).toBe(SYNC_WATCH_MS / world.step);
    // And once the standby is synchronous after all, the next regular cycle publishes it.
    world.neverSync.clear();
    untilPublished(world, ['pg1']);
    expect(world.published).toEqual(['pg1']);
  });

  it('asks for no quick look when nothing lags, and none when synchronous mode is off', () => {
    expect(new SyncWorld({ loop_wait: 10 }).cycle().wakeAfterMs).toBeUndefined();
    const strictAlone = new SyncWorld({ synchronous_mode: true, synchronous_mode_strict: true, loop_wait: 10 }, []);
    strictAlone.cycle();
    expect(strictAlone.standbyNames).toBe('*');
    expect(strictAlone.cycle().wakeAfterMs).toBeUndefined();
  });
});
