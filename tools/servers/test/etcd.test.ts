import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEtcdCertificates, startEtcd, type EtcdCluster } from '../src/etcd.js';
import { tempDir, waitFor } from '../src/process.js';

async function healthy(url: string, timeoutMs = 2000): Promise<boolean> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
  return ((await res.json()) as { health?: string }).health === 'true';
}

describe('startEtcd, single server', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('serves on loopback, answers etcdctl, and keeps data across a kill and restart', async () => {
    expect(etcd.endpoints).toHaveLength(1);
    expect(etcd.endpoints[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await healthy(etcd.endpoints[0]!)).toBe(true);
    await etcd.etcdctl(['put', '/pgha-test/k', 'v1']);
    expect(await etcd.etcdctl(['get', '--print-value-only', '/pgha-test/k'])).toBe('v1\n');

    await etcd.stopMember(0, { kill: true });
    expect(etcd.members[0]!.process).toBeNull();
    await expect(healthy(etcd.endpoints[0]!, 500)).rejects.toThrow();
    await etcd.startMember(0);
    expect(await etcd.etcdctl(['get', '--print-value-only', '/pgha-test/k'])).toBe('v1\n');
  });

  it('freezes and thaws the server', async () => {
    etcd.freeze(0);
    try {
      expect(etcd.members[0]!.process!.state()).toBe('T');
      await expect(healthy(etcd.endpoints[0]!, 500)).rejects.toThrow();
    } finally {
      etcd.thaw(0);
    }
    expect(etcd.members[0]!.process!.state()).not.toBe('T');
    expect(await healthy(etcd.endpoints[0]!)).toBe(true);
  });

  it('removes its data and leaves nothing running on stop', async () => {
    const other = await startEtcd();
    const { dataDir, process } = other.members[0]!;
    expect(existsSync(dataDir)).toBe(true);
    await other.stop();
    await other.stop();
    expect(existsSync(dataDir)).toBe(false);
    expect(process!.child.exitCode !== null || process!.child.signalCode !== null).toBe(true);
    await expect(healthy(other.endpoints[0]!, 500)).rejects.toThrow();
  });
});

describe('startEtcd, three members', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('forms one cluster with a leader', async () => {
    expect(new Set(etcd.endpoints).size).toBe(3);
    const status = JSON.parse(await etcd.etcdctl(['endpoint', 'status', '-w', 'json'])) as { Status: { header: { cluster_id: number }; leader: number } }[];
    expect(status).toHaveLength(3);
    expect(new Set(status.map((s) => s.Status.header.cluster_id)).size).toBe(1);
    expect(new Set(status.map((s) => s.Status.leader)).size).toBe(1);
    const members = await etcd.etcdctl(['member', 'list']);
    for (const m of etcd.members) expect(members).toContain(m.clientUrl);
  });

  it('keeps serving with one member stopped, and restarts it into the cluster', async () => {
    await etcd.stopMember(0);
    await etcd.etcdctl(['put', '/pgha-test/three', 'while-down']);
    await etcd.startMember(0);
    expect(await healthy(etcd.endpoints[0]!)).toBe(true);
    const value = await etcd.etcdctl([`--endpoints=${etcd.endpoints[0]}`, 'get', '--print-value-only', '/pgha-test/three']);
    expect(value).toBe('while-down\n');
  });

  it('freezes one member while the others keep serving', async () => {
    etcd.freeze(1);
    try {
      await expect(healthy(etcd.endpoints[1]!, 500)).rejects.toThrow();
      // If the frozen member led the cluster, the others elect a new leader first.
      await waitFor('member 2 healthy while member 1 is frozen', () => healthy(etcd.endpoints[2]!, 1000), 15_000);
    } finally {
      etcd.thaw(1);
    }
  });
});

describe('startEtcd, TLS', () => {
  it('serves clients over https with the generated certificates', async () => {
    const dir = await tempDir('etcd-tls-launcher');
    let etcd: EtcdCluster | undefined;
    try {
      const tls = await makeEtcdCertificates(dir.path, { clientCertAuth: true });
      etcd = await startEtcd({ tls });
      expect(etcd.endpoints[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      await etcd.etcdctl(['put', '/pgha-test/tls', 'yes']);
      expect(await etcd.etcdctl(['get', '--print-value-only', '/pgha-test/tls'])).toBe('yes\n');
      // Plain http on the same port is refused.
      await expect(healthy(etcd.endpoints[0]!.replace('https:', 'http:'), 1000)).rejects.toThrow();
    } finally {
      await etcd?.stop();
      await dir.remove();
    }
  });
});
