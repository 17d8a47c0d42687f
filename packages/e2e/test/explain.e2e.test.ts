/**
 * End-to-end (issue #18, decisions as data): a four-member cluster where pg1 is tagged
 * `nofailover`, pg3 has `failover_priority: 2`, and `maximum_lag_on_failover` is a replay time
 * (`5s`). pg2's replay is paused while the primary keeps writing, so it lags in time.
 *
 * 1. `pghactl explain` names pg3 as the member that would take over, pg1 excluded by
 *    `nofailover` and pg2 by `lag-time`; pg0 crashes, pg3 takes over, and every member's
 *    `GET /decisions` and `pghactl explain --history` say why it went so.
 * 2. pg2 gets `failover_priority: 0` (a reload), pg0 stays down, and pg3 crashes: nobody may
 *    take over. The cluster stays without a leader, and `pghactl explain` names each member's
 *    reason (the dead members' too, while their keys last).
 *
 * PGHA_E2E_DCS=zookeeper runs it on ZooKeeper (default etcd); PGHA_E2E_ECHO=1 shows the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { query, tryQuery } from '@pgha/workload';
import { WAIT_MS, diagnostics, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { apiJson } from './support/rest.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'etcd') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const LAG_LIMIT_MS = 5000;

interface Verdict {
  member: string;
  verdict: string;
  gate: string | null;
  detail: string | null;
}
interface DecisionRecord {
  time: string;
  rule: string;
  code: string;
  reason: string;
  facts: { replayLagMs: number | null; lock: string };
  candidates?: Verdict[];
}
interface Decisions {
  member: string;
  capacity: number;
  decisions: DecisionRecord[];
}

describe(`explain: decisions as data (${DCS})`, () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;
  let writing: ReturnType<typeof setInterval> | undefined;
  let nextId = 1;

  const member = (name: string): MemberHandle => cluster.members.find((m) => m.name === name)!;
  const decisions = (m: MemberHandle) => apiJson<Decisions>(m, '/decisions');
  const fail = (e: unknown): never => {
    throw new Error(`${(e as Error).message}\n${diagnostics(cluster, 25)}`);
  };

  /** Rows written on the primary every 200 ms, so positions (and a paused replica's lag) move. */
  let inFlight: Promise<unknown> = Promise.resolve();
  const keepWriting = (): void => {
    writing = setInterval(() => {
      inFlight = tryQuery(primary, 'INSERT INTO explain_rows VALUES ($1)', [nextId++]);
    }, 200);
  };
  /** Stops the writes, including the one on its way. */
  const stopWriting = async (): Promise<void> => {
    if (writing) clearInterval(writing);
    writing = undefined;
    await inFlight;
  };

  /** Pauses pg2's replay and waits until its own decision records show it lagging over the limit. */
  const lagPg2 = async (): Promise<void> => {
    await query(member('pg2'), 'SELECT pg_wal_replay_pause()');
    keepWriting();
    await waitFor(
      'pg2 lagging over maximum_lag_on_failover in its decision records',
      async () => ((await decisions(member('pg2'))).decisions.at(-1)?.facts.replayLagMs ?? 0) > LAG_LIMIT_MS + 1000,
      WAIT_MS,
      250,
    ).catch(fail);
  };

  /**
   * Writes stop, the WAL stops growing, and every replica has received all of it (pg2 replays
   * nothing), as its `GET /patroni` shows it. The API answers from the agent's last cycle, and
   * explain compares those answers: WAL written after the wait would reach one replica's answer
   * before another's and make that one seem behind. Besides the test's writes, the primary writes
   * WAL on its own when idle: a timed checkpoint (so one is forced now, which resets its timer)
   * and a standby snapshot (RUNNING_XACTS) within 15 s after WAL that matters — after that
   * snapshot, which itself does not count, nothing more (autovacuum is off for the table).
   */
  const settle = async (replicas: string[]): Promise<void> => {
    await stopWriting();
    await query(primary, 'CHECKPOINT');
    const [after] = await query<{ lsn: string }>(primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
    await waitFor(
      'the standby snapshot the checkpoint brings (the last WAL record until the next write)',
      async () => (await tryQuery<{ moved: boolean }>(primary, 'SELECT pg_current_wal_lsn() > $1::pg_lsn AS moved', [after!.lsn]))?.[0]?.moved === true,
      WAIT_MS,
      250,
    ).catch(fail);
    await waitFor(
      `${replicas.join(', ')} to report the primary's position in GET /patroni`,
      async () => {
        const rows = await tryQuery<{ lsn: string }>(primary, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn");
        if (!rows?.[0]) return false;
        const current = Number(rows[0].lsn);
        const received = await Promise.all(
          replicas.map(async (name) => (await apiJson<{ xlog?: { received_location?: number } }>(member(name), '/patroni').catch(() => null))?.xlog?.received_location),
        );
        return received.every((r) => r === current);
      },
      WAIT_MS,
      100,
    ).catch(fail);
  };

  const explain = async (): Promise<{ rows: Record<string, string>[]; pretty: string }> => {
    const json = await pghactl(primary, ['explain', '-f', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const pretty = await pghactl(primary, ['explain']);
    expect(pretty.code, pretty.stderr).toBe(0);
    return { rows: JSON.parse(json.stdout) as Record<string, string>[], pretty: pretty.stdout };
  };

  const crash = async (m: MemberHandle): Promise<void> => {
    await m.killAgent();
    m.killPostmaster();
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({
      members: 4,
      dcs: DCS,
      timing: TIMING,
      dynamic: { maximum_lag_on_failover: '5s' },
      tags: { 1: { nofailover: true }, 3: { failover_priority: 2 } },
      extra: { 1: { bootstrap: undefined }, 2: { bootstrap: undefined }, 3: { bootstrap: undefined } },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
    await query(primary, 'CREATE TABLE explain_rows (id int PRIMARY KEY) WITH (autovacuum_enabled = off)');
  });

  afterAll(async () => {
    await stopWriting();
    await cluster?.stop();
  });

  it('explain: pg3 would take over; pg1 is excluded by nofailover, pg2 by its replay lag', async () => {
    expect(primary.name).toBe('pg0');
    await lagPg2();
    // Equal positions: pg3 leads pg2 on its priority alone, so only the lag gate excludes pg2.
    await settle(['pg1', 'pg2', 'pg3']);
    const { rows, pretty } = await explain();
    expect(rows.map((r) => [r['Member'], r['Verdict'], r['Gate'] ?? null])).toEqual([
      ['pg0', 'leader', null],
      ['pg1', 'excluded', 'nofailover'],
      ['pg2', 'excluded', 'lag-time'],
      ['pg3', 'chosen', null],
    ]);
    expect(rows.find((r) => r['Member'] === 'pg2')?.['Detail']).toMatch(/^not healthy enough for leader race: replay lag [\d.]+ s exceeds maximum_lag_on_failover 5s$/);
    expect(pretty).toContain('if pg0 failed now, pg3 would take over');
  });

  it('pg0 crashes: pg3 takes over, and the decision records of every member say why', async () => {
    await crash(member('pg0'));
    primary = await cluster.waitForPrimary(WAIT_MS, 'pg0').catch(fail);
    expect(primary.name).toBe('pg3');

    const won = (await decisions(member('pg3'))).decisions.find((d) => d.code === 'race.won');
    expect(won, JSON.stringify((await decisions(member('pg3'))).decisions.slice(-5))).toBeDefined();
    expect(won?.reason).toBe('promoted self to leader by acquiring session lock');
    expect(won?.rule).toBe('lock-free');
    const chosen = won?.candidates?.find((v) => v.member === 'pg3');
    expect(chosen?.verdict).toBe('chosen');
    expect(won?.candidates?.find((v) => v.member === 'pg1')).toMatchObject({ verdict: 'excluded', gate: 'nofailover' });

    const nofailover = (await decisions(member('pg1'))).decisions.find((d) => d.rule === 'lock-free');
    expect(nofailover?.code).toBe('race.lost.not-allowed');
    expect(nofailover?.reason).toBe('following a different leader because I am not allowed to promote');
    expect(nofailover?.candidates?.find((v) => v.member === 'pg1')).toMatchObject({ verdict: 'excluded', gate: 'nofailover' });

    const lagging = (await decisions(member('pg2'))).decisions.find((d) => d.rule === 'lock-free');
    expect(lagging?.code).toBe('race.lost.not-healthiest');
    expect(lagging?.reason).toBe('following a different leader because i am not the healthiest node');
    expect(lagging?.candidates?.find((v) => v.member === 'pg2')).toMatchObject({ verdict: 'excluded', gate: 'lag-time' });

    const history = await pghactl(primary, ['explain', '--history', '-f', 'json']);
    expect(history.code, history.stderr).toBe(0);
    const rows = JSON.parse(history.stdout) as { Member: string; Code: string; Candidates?: Record<string, string> }[];
    const codeOf = (name: string) => rows.filter((r) => r.Member === name).map((r) => r.Code);
    expect(codeOf('pg3')).toContain('race.won');
    expect(codeOf('pg1')).toContain('race.lost.not-allowed');
    expect(codeOf('pg2')).toContain('race.lost.not-healthiest');
    const pg2Race = rows.find((r) => r.Member === 'pg2' && r.Code === 'race.lost.not-healthiest');
    expect(pg2Race?.Candidates?.['pg2']).toMatch(/^excluded: lag-time /);
  });

  it('pg2 is given failover_priority 0 and pg3 crashes while pg0 is down: the cluster stays without a leader, and explain names each reason', async () => {
    await tryQuery(member('pg2'), 'SELECT pg_wal_replay_resume()');
    // A replay pause would not survive the restarts a leader's crash may bring (a rewind), a tag does.
    member('pg2').editConfig((c) => ({ ...c, tags: { failover_priority: 0 } }));
    member('pg2').reload();
    await waitFor('pg2 publishing failover_priority 0', async () => {
      const status = await member('pg2').status();
      return (status?.['tags'] as Record<string, unknown> | undefined)?.['failover_priority'] === 0;
    }, WAIT_MS, 250).catch(fail);
    keepWriting();
    await settle(['pg1', 'pg2']);
    await crash(primary);
    const survivors = [member('pg1'), member('pg2')];
    // Past ttl the lock has expired; the survivors have raced and neither may take it.
    await waitFor(
      'both survivors to refuse the free lock',
      async () => {
        const codes = await Promise.all(survivors.map(async (m) => (await decisions(m)).decisions.at(-1)?.code));
        return codes.every((c) => c === 'race.lost.not-allowed');
      },
      WAIT_MS,
      500,
    ).catch(async (e: unknown) => {
      const records = await Promise.all(survivors.map(async (m) => (await decisions(m)).decisions.slice(-8)));
      throw new Error(`${(e as Error).message}\n${JSON.stringify(records, null, 1)}`);
    });
    for (const m of survivors) expect(await tryQuery<{ r: boolean }>(m, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
    const own = (await decisions(member('pg2'))).decisions.at(-1)?.candidates?.find((v) => v.member === 'pg2');
    expect(own).toMatchObject({ verdict: 'excluded', gate: 'nofailover', detail: 'I am not allowed to promote' });

    primary = member('pg1');
    const { rows, pretty } = await explain();
    const verdicts = Object.fromEntries(rows.map((r) => [r['Member'], [r['Verdict'], r['Gate']]]));
    expect(verdicts['pg1']).toEqual(['excluded', 'nofailover']);
    expect(verdicts['pg2']).toEqual(['excluded', 'nofailover']);
    // pg3 (and pg0, while its member key lasts) answer no more.
    for (const gone of ['pg0', 'pg3']) if (verdicts[gone]) expect(verdicts[gone]?.[1]).toMatch(/^(unreachable|not-running)$/);
    expect(rows.every((r) => r['Verdict'] === 'excluded')).toBe(true);
    expect(pretty).toMatch(/the leader lock is free: no member would take over: .*pg1 nofailover, pg2 nofailover/);
  });
});
