/**
 * Issue 20, members as hosts, part 2: three pgha members on hosts of their own and a 3-server
 * DCS (etcd or ZooKeeper, e2eStore()) whose servers are on three more hosts, so the DCS can be
 * split apart from the members. Synchronous mode; a prober writes to every member all along.
 * Timings are logged (docs/chaos.md records them), never asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostCluster, type HostCluster, type MemberHandle } from '@pgha/local-cluster';
import { splitBrainWindows, type Prober, type Writer } from '@pgha/workload';
import { e2eStore } from './support/store.js';
import { HOST_PARAMETERS, HOST_TIMING, hostChecks, startHostWorkload, waitUntil } from './support/hosts.js';

const DCS = e2eStore();
const TIMING = HOST_TIMING;
const PARAMETERS = HOST_PARAMETERS;
let cluster: HostCluster;
let writer: Writer;
let prober: Prober;
const { allStreaming, primariesDuring, lostOn } = hostChecks(() => cluster, () => writer);

beforeAll(async () => {
  cluster = await startHostCluster({
    members: 3, dcs: DCS, dcsServers: 3, dcsPlacement: 'own', etcdElectionTimeoutMs: 1000, timing: TIMING,
    dynamic: { synchronous_mode: true, postgresql: { use_pg_rewind: true, use_slots: true, parameters: PARAMETERS } },
  });
  const primary = await cluster.waitForPrimary(180_000);
  ({ writer, prober } = await startHostWorkload(cluster, primary, allStreaming));
});

afterAll(async () => {
  await prober?.stop();
  await writer?.stop();
  await cluster?.stop();
});

describe(`members as hosts, part 2 (network namespaces, 3-server ${DCS} on hosts of its own)`, () => {
  it('a replica↔replica cut with the DCS reachable by all: no failover, both keep streaming, nothing lost', async () => {
    const primary = await cluster.waitForPrimary();
    await waitUntil('every replica streaming', () => allStreaming(primary), 60_000);
    const [r1, r2] = cluster.members.filter((m) => m !== primary);
    const from = Date.now();
    cluster.cuts.cut(cluster.hostOf(r1!), cluster.hostOf(r2!));
    let seen: Set<string>;
    let streaming: boolean;
    try {
      seen = await primariesDuring((TIMING.ttl + 5) * 1000);
      streaming = await allStreaming(primary);
    } finally {
      cluster.cuts.healAll();
    }
    expect([...seen]).toEqual([primary.name]);
    expect(streaming).toBe(true);
    expect(splitBrainWindows(prober.intervals(), from)).toEqual([]);
    expect(await lostOn(primary)).toEqual([]);
  });

  it('the primary\'s host on the DCS minority side: it stops writing before a majority-side replica promotes, nothing lost, it rejoins', async () => {
    const primary = await cluster.waitForPrimary();
    await waitUntil('every replica streaming', () => allStreaming(primary), 60_000);
    const others = cluster.members.filter((m) => m !== primary).map((m) => cluster.hostOf(m));
    const [minorityDcs, ...majorityDcs] = cluster.dcsHosts;
    const from = Date.now();
    cluster.cuts.partition([cluster.hostOf(primary), minorityDcs!], [...others, ...majorityDcs]);
    let next: MemberHandle | null = null;
    try {
      await waitUntil('a new primary', async () => {
        next = await cluster.waitForPrimary(2000, primary.name);
        return true;
      }, 120_000);
      const oldLast = Math.max(...prober.intervals().filter((i) => i.member === primary.name).map((i) => i.to));
      console.log(`hosts-2 (${DCS}): minority split, new primary ${next!.name} after ${Date.now() - from} ms; old primary's last accepted write ${oldLast - from} ms after the cut (ttl ${TIMING.ttl * 1000} ms)`);
    } finally {
      cluster.cuts.healAll();
    }
    const lost = await lostOn(next!);
    await waitUntil('every member, the old primary too, streaming from the new primary', () => allStreaming(next!), 180_000);
    expect(next!.name).not.toBe(primary.name);
    expect(splitBrainWindows(prober.intervals(), from)).toEqual([]);
    expect(lost).toEqual([]);
  });
});
