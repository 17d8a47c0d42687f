/**
 * End-to-end, issue 16: the locked-down cluster of docs/security.md's hardening section — every
 * REST API on https with a private CA and `verify_client: required`, each member presenting its
 * `ctl` client certificate to its peers, Basic auth on the unsafe endpoints — still driven by
 * Patroni's own `patronictl` (Debian's 3.0.2) from a member's YAML: it lists the cluster and
 * switches it over. Callers without the certificate, or without the password, get nothing.
 *
 * The whole e2e suite runs in this mode with PGHA_E2E_HARDENED=1 (docs/security.md).
 */
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { WAIT_MS, tail, waitForStreaming } from './support/cluster-checks.js';
import { patronictl } from './support/mixed.js';
import { api } from './support/rest.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };


/** An https POST trusting the cluster's CA, without a client certificate or without a password. */
function stranger(cluster: LocalCluster, m: MemberHandle, withCert: boolean): Promise<number | string> {
  const tls = cluster.tls!;
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: m.apiPort, method: 'POST', path: '/restart', headers: { 'Content-Type': 'application/json', 'Content-Length': '2' }, ca: tls.ca, agent: false, timeout: 10_000, ...(withCert ? { cert: tls.cert, key: tls.key } : {}) },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (e) => resolve(`refused: ${e.message}`));
    req.end('{}');
  });
}

describe('a hardened cluster (https, verify_client required, Basic auth) driven by patronictl', () => {
  let cluster: LocalCluster;
  const diagnostics = () => cluster.members.map((m) => `--- ${m.name}\n${tail(m, 60)}`).join('\n');

  beforeAll(async () => {
    cluster = await startLocalCluster({ dcs: 'etcd', scope: 'hardened', timing: TIMING, hardened: true, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses callers without the certificate or the password, and does not warn of an open API', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    expect(primary.apiUrl).toMatch(/^https:/);
    expect(await stranger(cluster, primary, false)).toMatch(/^refused/);
    expect(await stranger(cluster, primary, true)).toBe(401);
    const status = JSON.parse((await api(primary, 'GET', '/patroni')).text) as Record<string, unknown>;
    expect(status['warnings']).toBeUndefined();
  });

  it('patronictl lists the cluster', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const list = await patronictl(cluster, primary, ['list']);
    expect(list.code, list.out).toBe(0);
    expect(list.out).toContain('Cluster: hardened');
    expect(list.out).toMatch(new RegExp(`\\| ${primary.name} +\\|[^\\n]*\\| Leader +\\| running`));
    expect(list.out.match(/\| Replica +\| (running|streaming)/g) ?? []).toHaveLength(2);
  });

  it('patronictl switches the cluster over through the locked-down APIs', async () => {
    const old = await cluster.waitForPrimary(WAIT_MS);
    const target = cluster.members.find((m) => m !== old)!;
    const marks = new Map(cluster.members.map((m) => [m.name, m.output().length]));
    const out = await patronictl(cluster, old, ['switchover', '--force', '--leader', old.name, '--candidate', target.name]);
    expect(out.out).toContain(`Successfully switched over to "${target.name}"`);
    const next = await cluster.waitForPrimary(WAIT_MS, old.name);
    expect(next.name).toBe(target.name);
    // Leader checks between members went over mutual TLS without a failure.
    expect(next.output().slice(marks.get(next.name)), diagnostics()).not.toContain('Request failed to');
    await waitForStreaming(cluster, next);
  });
});
