// The scale bench on its smallest run: 2 clusters of 3 members, one per worker process, sharing
// each worker's etcd clients, on a real 3-server etcd, a few
// seconds of window. Checks the report's shape and that leaders were elected and renewed; the
// figures themselves are the bench's business (docs/benchmarks.md), not the test's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdCluster } from '@pgha/test-servers';
import { runScale } from '../src/scale-run.js';

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
});

afterAll(async () => {
  await etcd?.stop();
});

describe('scale bench', () => {
  it('runs 2 clusters of 3 members and reports their renewals and the DCS CPU', async () => {
    const report = await runScale({
      clusters: 2,
      store: 'etcd',
      endpoints: etcd.endpoints,
      serverPids: etcd.members.map((m) => m.process!.child.pid!),
      seconds: 4,
      timing: { ttl: 10, loopWait: 1, retryTimeout: 3 },
      workers: 2,
      sharedConnections: true,
    });
    expect(report).toMatchObject({ store: 'etcd', clusters: 2, members: 6, seconds: 4, clustersWithLeader: 2, workers: 2, connections: 'shared-per-worker' });
    expect(report.benchProcess.perWorker.map((w) => w.members)).toEqual([3, 3]);
    expect(report.renewals.count).toBeGreaterThan(0);
    expect(report.renewals.medianMs).not.toBeNull();
    expect(report.renewals.p99Ms!).toBeGreaterThanOrEqual(report.renewals.medianMs!);
    expect(report.missedRenewals.total).toBe(report.missedRenewals.failed + report.missedRenewals.late);
    expect(report.dcsCpu.seconds).toBeGreaterThan(0);
    expect(report.benchProcess.rssMb).toBeGreaterThan(0);
    // Every session was ended: no cluster key is left on the server.
    const left = await etcd.etcdctl(['get', '/service/scale-', '--prefix', '--keys-only']);
    expect(left.split('\n').filter((l) => l.includes('/members/') || l.endsWith('/leader'))).toEqual([]);
  });
});
