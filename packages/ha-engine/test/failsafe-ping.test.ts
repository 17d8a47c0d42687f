// Who may make a replica follow it through POST /failsafe (issue #15, review H3): only the member
// the DCS last named leader, from its address, and the connection string followed is the one of
// its DCS member key, never the request's.
import type { Cluster } from '@pgha/dcs';
import { describe, expect, it } from 'vitest';
import { answerFailsafePing, failsafeActive, judgeFailsafePing, lastLeaderOf, type FailsafePingInput, type LastLeader } from '../src/index.js';
import { clusterWithLeader, runningPrimary, runningReplica, stopped, unlockedCluster } from './fixtures/snapshots.js';

const PG0: LastLeader = { name: 'pg0', connUrl: 'postgres://10.0.0.10:5432/postgres', apiUrl: 'http://10.0.0.10:8008/patroni' };

function judge(overrides: Partial<FailsafePingInput> & { request?: FailsafePingInput['request'] }) {
  return judgeFailsafePing({
    request: { name: 'pg0', source: '10.0.0.10' },
    failsafeMode: true,
    localPrimary: false,
    lsn: 1234,
    lastLeader: PG0,
    now: 5000,
    ...overrides,
  });
}

describe('judgeFailsafePing', () => {
  it('accepts the last lock holder from its address, and follows the conn_url of its DCS member key', () => {
    const { answer, ping } = judge({ request: { name: 'pg0', conn_url: 'postgres://attacker:5432/postgres', api_url: 'http://attacker:8008', source: '::ffff:10.0.0.10' } });
    expect(answer).toEqual({ kind: 'accepted', lsn: 1234 });
    expect(ping).toEqual({ name: 'pg0', connUrl: PG0.connUrl, apiUrl: PG0.apiUrl, receivedAt: 5000 });
  });

  it('a Patroni primary’s ping (name, conn_url, api_url; no source known) is accepted when it is the leader', () => {
    const { answer } = judge({ request: { name: 'pg0', conn_url: PG0.connUrl as string, api_url: PG0.apiUrl as string } });
    expect(answer.kind).toBe('accepted');
  });

  it('refuses any other name with 409 naming the leader it last read', () => {
    const { answer, ping } = judge({ request: { name: 'evil', conn_url: 'postgres://attacker:5432/postgres', source: '10.0.0.10' } });
    expect(answer).toEqual({ kind: 'refused', status: 409, reason: 'name: "evil" is not the leader (the DCS last named pg0)' });
    expect(ping).toBeNull();
  });

  it('refuses every ping before a leader was ever read', () => {
    const { answer } = judge({ lastLeader: null });
    expect(answer).toEqual({ kind: 'refused', status: 409, reason: 'name: "pg0" is not the leader (no leader was read from the DCS yet)' });
  });

  it('refuses the leader’s name from another address with 403', () => {
    const { answer, ping } = judge({ request: { name: 'pg0', source: '10.0.0.66' } });
    expect(answer).toEqual({ kind: 'refused', status: 403, reason: "the request comes from 10.0.0.66, not from pg0's address (10.0.0.10)" });
    expect(ping).toBeNull();
  });

  it('matches IPv6 literals in any spelling, and localhost against loopback', () => {
    const v6: LastLeader = { name: 'pg0', connUrl: 'postgres://[fd00::0a]:5432/postgres', apiUrl: null };
    expect(judge({ lastLeader: v6, request: { name: 'pg0', source: 'fd00:0:0:0:0:0:0:a' } }).answer.kind).toBe('accepted');
    expect(judge({ lastLeader: v6, request: { name: 'pg0', source: 'fd00::b' } }).answer.kind).toBe('refused');
    const local: LastLeader = { name: 'pg0', connUrl: 'postgres://localhost:5432/postgres', apiUrl: 'http://localhost:8008/patroni' };
    expect(judge({ lastLeader: local, request: { name: 'pg0', source: '127.0.0.1' } }).answer.kind).toBe('accepted');
    expect(judge({ lastLeader: local, request: { name: 'pg0', source: '::1' } }).answer.kind).toBe('accepted');
    expect(judge({ lastLeader: local, request: { name: 'pg0', source: '10.0.0.66' } }).answer.kind).toBe('refused');
  });

  it('cannot check host names without resolving them: the name decides', () => {
    const named: LastLeader = { name: 'pg0', connUrl: 'postgres://db0.example:5432/postgres', apiUrl: 'http://db0.example:8008/patroni' };
    expect(judge({ lastLeader: named, request: { name: 'pg0', source: '10.0.0.66' } }).answer.kind).toBe('accepted');
  });

  it('answers as Patroni when failsafe mode is off or this member runs as a primary', () => {
    expect(judge({ failsafeMode: false }).answer).toEqual({ kind: 'disabled' });
    expect(judge({ localPrimary: true }).answer).toEqual({ kind: 'leader' });
  });
});

describe('lastLeaderOf', () => {
  const withLeader: Cluster = clusterWithLeader();
  it('takes the lock holder and its member key’s addresses', () => {
    const leader = withLeader.leader?.name as string;
    const data = withLeader.members.find((m) => m.name === leader)?.data;
    expect(lastLeaderOf(withLeader, null)).toEqual({ name: leader, connUrl: data?.conn_url ?? null, apiUrl: data?.api_url ?? null });
  });

  it('keeps the previous holder while the lock is free (its key expired with the DCS cut off)', () => {
    expect(lastLeaderOf(unlockedCluster(), PG0)).toBe(PG0);
  });

  it('keeps the addresses read before when the holder’s member key is gone', () => {
    const noMember: Cluster = { ...withLeader, leader: { name: 'pg0', version: '1' }, members: withLeader.members.filter((m) => m.name !== 'pg0') };
    expect(lastLeaderOf(noMember, PG0)).toEqual(PG0);
    expect(lastLeaderOf(noMember, { ...PG0, name: 'pg9' })).toEqual({ name: 'pg0', connUrl: null, apiUrl: null });
  });
});

describe('answerFailsafePing (what the runtime last saw)', () => {
  const request = { name: 'pg0', source: '10.0.0.10' };
  const answer = (local: Parameters<typeof answerFailsafePing>[0]['local'], failsafeMode = true) =>
    answerFailsafePing({ request, config: { failsafeMode }, local, lastLeader: PG0, now: 7 }).answer.kind;
  it('disabled when failsafe mode is off, whatever the state', () => {
    expect(answer(runningPrimary(), false)).toBe('disabled');
  });
  it('a running primary answers as the leader; a stopped one, an unreadable state or none at all does not', () => {
    expect(answer(runningPrimary())).toBe('leader');
    expect(answer(stopped('primary'))).toBe('accepted');
    expect(answer(runningPrimary({ unknown: 'timeout' }))).toBe('accepted');
    expect(answer(null)).toBe('accepted');
  });
  it('a replica accepts, with its WAL position', () => {
    expect(answerFailsafePing({ request, config: { failsafeMode: true }, local: runningReplica({ lsn: 99 }), lastLeader: PG0, now: 7 }).answer).toEqual({ kind: 'accepted', lsn: 99 });
  });
});

describe('failsafeActive', () => {
  const config = { failsafeMode: true, ttl: 30 };
  const ping = { name: 'pg0', connUrl: null, apiUrl: null, receivedAt: 1000 };
  it('off without failsafe mode, whatever the hold or ping', () => {
    expect(failsafeActive({ config: { ...config, failsafeMode: false }, now: 1000, holdUntil: 5000, ping })).toBe(false);
  });
  it('a primary while its hold lasts', () => {
    expect(failsafeActive({ config, now: 4999, holdUntil: 5000, ping: null })).toBe(true);
    expect(failsafeActive({ config, now: 5000, holdUntil: 5000, ping: null })).toBe(false);
  });
  it('a replica for ttl after the ping', () => {
    expect(failsafeActive({ config, now: 30_999, holdUntil: null, ping })).toBe(true);
    expect(failsafeActive({ config, now: 31_000, holdUntil: null, ping })).toBe(false);
  });
});
