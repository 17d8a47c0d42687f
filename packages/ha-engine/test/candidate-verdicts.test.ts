// One verdict per candidate (issue #18), from the race rule itself; and the decision log's bounds.
import { describe, expect, it } from 'vitest';
import type { PeerStatus } from '../src/index.js';
import { candidateVerdicts, createDecisionLog, decide, racingMemberOfPeer } from '../src/index.js';
import { config, member, peer, runningReplica, snapshot, unlockedCluster } from './fixtures/snapshots.js';

const OPTIME = 100_000_000;
const cluster = (members = ['pg1', 'pg2', 'pg3', 'pg4']) => unlockedCluster({ optime: OPTIME, members: members.map((n) => member(n)) });

function verdicts(peers: PeerStatus[], dynamic: Record<string, unknown> = {}, winner?: string) {
  return candidateVerdicts({
    cluster: cluster(),
    config: config({ maximum_lag_on_failover: 1_000_000, ...dynamic }),
    members: peers.map((p) => racingMemberOfPeer(p)),
    peers,
    ...(winner ? { winner } : {}),
  }).map((v) => [v.member, v.verdict, v.gate, v.detail]);
}

describe('candidate verdicts', () => {
  const fleet = [
    peer('pg1', { walPosition: OPTIME }),
    peer('pg2', { walPosition: OPTIME, tags: { nofailover: true } }),
    peer('pg3', { walPosition: OPTIME - 5_000_000 }),
    peer('pg4', { reachable: false, error: 'connection refused' }),
  ];

  it('the one that passes every gate is chosen; the others name their gate in the rule’s words', () => {
    expect(verdicts(fleet)).toEqual([
      ['pg1', 'chosen', null, 'Member pg2 is not allowed to promote; Member pg4 is not reachable'],
      ['pg2', 'excluded', 'nofailover', 'I am not allowed to promote'],
      ['pg3', 'excluded', 'lag-bytes', 'My wal position exceeds maximum replication lag'],
      ['pg4', 'excluded', 'unreachable', 'connection refused'],
    ]);
  });

  it('a member behind another, or level with one of higher priority, is excluded by that', () => {
    const peers = [peer('pg1', { walPosition: OPTIME - 10 }), peer('pg2', { walPosition: OPTIME }), peer('pg3', { walPosition: OPTIME, tags: { failover_priority: 2 } })];
    expect(verdicts(peers).map((v) => v.slice(0, 3))).toEqual([
      ['pg1', 'excluded', 'behind-member'],
      ['pg2', 'excluded', 'lower-priority'],
      ['pg3', 'chosen', null],
    ]);
  });

  it('equals are eligible until one takes the lock', () => {
    const peers = [peer('pg1', { walPosition: OPTIME }), peer('pg2', { walPosition: OPTIME })];
    expect(verdicts(peers).map((v) => v[1])).toEqual(['eligible', 'eligible']);
    expect(verdicts(peers, {}, 'pg2').map((v) => v[1])).toEqual(['eligible', 'chosen']);
  });

  it('paused: nobody races', () => {
    expect(verdicts(fleet, { pause: true }).map((v) => v[2])).toEqual(['paused', 'paused', 'paused', 'paused']);
  });

  it('the time lag gate is the member’s own (only it knows its replay lag)', () => {
    const peers = [peer('pg1', { walPosition: OPTIME })];
    const [v] = candidateVerdicts({
      cluster: cluster(['pg1']),
      config: config({ maximum_lag_on_failover: '5s' }),
      members: [{ ...racingMemberOfPeer(peers[0] as PeerStatus), replayLagMs: 9000 }],
      peers,
    });
    expect(v).toMatchObject({ verdict: 'excluded', gate: 'lag-time' });
  });
});

describe('the decision log', () => {
  const s = snapshot({ local: runningReplica({ following: 'pg0' }) });
  const d = decide(s);

  it('collapses identical consecutive cycles into one record with a count', () => {
    const log = createDecisionLog(10);
    for (let i = 0; i < 5; i++) log.record({ ...s, wallNow: s.wallNow + i * 1000 }, d, { reason: d.reason, code: d.code, actions: [] });
    const [only, ...rest] = log.list();
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ count: 5, code: 'follow.leader', time: new Date(s.wallNow).toISOString(), lastTime: new Date(s.wallNow + 4000).toISOString() });
  });

  it('keeps the newest `capacity` records, oldest first, and `limit` of them on request', () => {
    const log = createDecisionLog(3);
    for (let i = 0; i < 7; i++) log.record(s, d, { reason: `r${i}`, code: d.code, actions: [] });
    expect(log.list().map((r) => r.reason)).toEqual(['r4', 'r5', 'r6']);
    expect(log.list(2).map((r) => r.reason)).toEqual(['r5', 'r6']);
    expect(createDecisionLog(0).capacity).toBe(0);
  });
});
