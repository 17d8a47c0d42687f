/**
 * End-to-end, issue 17: a running Patroni 3.0.2 cluster moved to pgha member by member, as
 * docs/migration.md tells a DBA to, while a client commits all along — and the way back. On each
 * replica the agent is stopped and the other one started on the same YAML and data directory;
 * then Patroni's own `patronictl switchover` (or `pghactl switchover` on the way back) moves the
 * leader onto a member of the new kind; then the last member of the old kind is replaced. Between
 * steps every member streams from the leader and patronictl lists it. At the end no acknowledged
 * commit is missing and the timeline history has exactly the one switchover in it.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs; PGHA_E2E_REPORT=1 prints the client's figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type AgentKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { ACKED_TABLE_DDL, query, startWriter, type Writer } from '@pgha/workload';
import { WAIT_MS, diagnostics, healthyPrimary } from './support/cluster-checks.js';
import { agentBehind, commitRecord, memberTimelines, patronictl, settled, timelineHistory } from './support/mixed.js';
import { pghactl } from './support/pghactl.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
// The seed's users run ZooKeeper: by default the move to pgha runs there and the way back on
// etcd (each direction once keeps the suite's time); PGHA_E2E_DCS puts both on one store.
const STORE = process.env['PGHA_E2E_DCS'] as 'etcd' | 'zookeeper' | undefined;

const directions: { from: AgentKind; to: AgentKind; dcs: 'etcd' | 'zookeeper' }[] = [
  { from: 'patroni', to: 'pgha', dcs: STORE ?? 'zookeeper' },
  { from: 'pgha', to: 'patroni', dcs: STORE ?? 'etcd' },
];

describe.each(directions)('a $from cluster moved to $to member by member on $dcs, a client committing', ({ from, to, dcs }) => {
  let cluster: LocalCluster;
  let writer: Writer | null = null;
  let oldLeader: MemberHandle;
  let newLeader: MemberHandle;

  beforeAll(async () => {
    cluster = await startLocalCluster({ agent: from, dcs, scope: `to-${to}`, timing: TIMING, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    oldLeader = await healthyPrimary(cluster);
    await query(oldLeader, ACKED_TABLE_DDL);
    writer = startWriter(cluster.members);
  });

  afterAll(async () => {
    await writer?.stop();
    await cluster?.stop();
  });

  it(`starts as an all-${from} cluster`, async () => {
    const agents = await Promise.all(cluster.members.map(agentBehind));
    expect(agents).toEqual(cluster.members.map(() => from));
    expect(await settled(cluster, oldLeader)).toHaveLength(3);
  });

  it(`replaces each replica's ${from} with ${to} on the same YAML and data directory`, async () => {
    for (const replica of cluster.members.filter((m) => m !== oldLeader)) {
      await replica.replaceAgent(to);
      const listed = await settled(cluster, oldLeader);
      expect(await agentBehind(replica)).toBe(to);
      expect(listed.find((r) => r.Member === replica.name)?.Role).toBe('Replica');
      // The replica came back on the data it had: still timeline 1, no new one started.
      expect(listed.map((r) => String(r.TL))).toEqual(['1', '1', '1']);
    }
    expect(await agentBehind(oldLeader)).toBe(from);
  });

  it(`switches over onto a ${to} member with ${from}'s own tool`, async () => {
    newLeader = cluster.members.find((m) => m !== oldLeader)!;
    const before = writer!.acked().length;
    const out =
      from === 'patroni'
        ? (await patronictl(cluster, oldLeader, ['switchover', '--force', '--leader', oldLeader.name, '--candidate', newLeader.name])).out
        : await pghactl(oldLeader, ['switchover', '--force', '--leader', oldLeader.name, '--candidate', newLeader.name]).then((r) => `${r.stdout}${r.stderr}`);
    expect(out, diagnostics(cluster)).toContain(`Successfully switched over to "${newLeader.name}"`);
    expect((await cluster.waitForPrimary(WAIT_MS, oldLeader.name)).name).toBe(newLeader.name);
    const listed = await settled(cluster, newLeader);
    expect(listed.find((r) => r.Member === oldLeader.name)?.Role).toBe('Replica');
    // The client writes on the new leader.
    await waitFor('a commit on the new leader', async () => writer!.acked().slice(before).some((c) => c.member === newLeader.name), WAIT_MS, 100);
  });

  it(`replaces the old ${from} leader, now a replica, with ${to}`, async () => {
    await oldLeader.replaceAgent(to);
    const listed = await settled(cluster, newLeader);
    expect(listed.map((r) => r.Member).sort()).toEqual(cluster.members.map((m) => m.name).sort());
    expect(await Promise.all(cluster.members.map(agentBehind))).toEqual(cluster.members.map(() => to));
    // pghactl reads the same cluster the same way.
    const ours = await pghactl(newLeader, ['list']);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout).toMatch(new RegExp(`\\| ${newLeader.name} +\\|[^\\n]*\\| Leader +\\| running`));
  });

  it('lost no acknowledged commit, and the history has the one switchover', async () => {
    const acked = writer!.acked();
    await writer!.stop();
    writer = null;
    const record = await commitRecord(newLeader, acked);
    if (process.env['PGHA_E2E_REPORT'] === '1') console.log(`${from} → ${to}: ${JSON.stringify({ ...record, lost: record.lost.length })}`);
    expect(record.byMember[oldLeader.name]).toBeGreaterThan(0);
    expect(record.byMember[newLeader.name]).toBeGreaterThan(0);
    expect(record.lost).toEqual([]);

    const history = await timelineHistory(cluster);
    expect(history.map((h) => h.timeline)).toEqual([1]);
    expect(history[0]!.lsn).toBeGreaterThan(0);
    if (history[0]!.newLeader !== undefined) expect(history[0]!.newLeader).toBe(newLeader.name);
    const timelines = await memberTimelines(cluster);
    expect(Object.values(timelines)).toEqual([2, 2, 2]);
  });
});
