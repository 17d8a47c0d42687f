/**
 * End-to-end, issue 16: SIGHUP locks down a running cluster's REST APIs without restarting
 * anything. Three members serve https with `verify_client: none` and no authentication; their
 * YAML then gains `verify_client: required` and Basic auth, and each agent gets SIGHUP. After
 * it: a caller without a client certificate is refused at the handshake, one without the
 * password gets 401, and the members still compare WAL positions in a switchover over mutual
 * TLS — all with the same agent processes and the same postmasters as before the reload.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, tail, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'etcd') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const ADMIN = { username: 'admin', password: 'reload-secret' };
const basic = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;

/** An https call to the member trusting the cluster's CA; the status, or the error's message. */
function call(cluster: LocalCluster, m: MemberHandle, method: string, path: string, o: { clientCert: boolean; auth?: boolean }): Promise<number | string> {
  const tls = cluster.tls!;
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Content-Length': '2', ...(o.auth ? { Authorization: basic } : {}) };
    const req = httpsRequest(
      { host: '127.0.0.1', port: m.apiPort, method, path, headers, ca: tls.ca, agent: false, timeout: 10_000, ...(o.clientCert ? { cert: tls.cert, key: tls.key } : {}) },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (e) => resolve(`refused: ${e.message}`));
    req.end(method === 'GET' ? undefined : '{}');
  });
}

const postmasterPid = (m: MemberHandle) => Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

describe(`SIGHUP reloads the REST API's TLS and authentication (${DCS})`, () => {
  let cluster: LocalCluster;
  const diagnostics = () => cluster.members.map((m) => `--- ${m.name}\n${tail(m, 60)}`).join('\n');

  beforeAll(async () => {
    cluster = await startLocalCluster({
      dcs: DCS,
      scope: 'reload',
      timing: TIMING,
      restapiTls: { verifyClient: 'none' },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('locks the API down on the running agents and postmasters', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const replica = cluster.members.find((m) => m !== primary)!;
    // Open before: no client certificate, no password, and the API says it is open to anyone.
    expect(await call(cluster, replica, 'GET', '/patroni', { clientCert: false })).toBe(200);
    expect(JSON.parse((await replica.get('/patroni'))!.body).warnings).toHaveLength(1);

    const agents = cluster.members.map((m) => m.agent!.child.pid);
    const postmasters = cluster.members.map(postmasterPid);
    const marks = cluster.members.map((m) => m.output().length);
    for (const m of cluster.members) {
      m.editConfig((c) => ({ ...c, restapi: { ...(c['restapi'] as object), verify_client: 'required', authentication: ADMIN } }));
      m.reload();
    }
    for (const [i, m] of cluster.members.entries()) {
      await waitFor(`${m.name} to reload`, async () => m.output().slice(marks[i]).includes('reloaded the configuration file'), WAIT_MS);
    }

    for (const m of cluster.members) {
      expect(await call(cluster, m, 'GET', '/patroni', { clientCert: false }), m.name).toMatch(/^refused/);
      expect(await call(cluster, m, 'POST', '/restart', { clientCert: true }), m.name).toBe(401);
      expect(JSON.parse((await m.get('/patroni'))!.body).warnings, m.name).toBeUndefined();
    }
    expect(cluster.members.map((m) => m.agent!.child.pid)).toEqual(agents);
    expect(cluster.members.map(postmasterPid)).toEqual(postmasters);
  });

  it('switches over through the locked-down APIs', async () => {
    const old = await cluster.waitForPrimary(WAIT_MS);
    const target = cluster.members.find((m) => m !== old)!;
    const marks = new Map(cluster.members.map((m) => [m.name, m.output().length]));
    // pghactl takes the client certificate and the password from the member's YAML.
    const out = await pghactl(old, ['switchover', '--leader', old.name, '--candidate', target.name, '--force']);
    expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
    const next = await cluster.waitForPrimary(WAIT_MS, old.name).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics()}`);
    });
    expect(next.name).toBe(target.name);
    // The new leader asked its peers for their WAL positions over mutual TLS and never failed to.
    const since = next.output().slice(marks.get(next.name));
    expect(since, diagnostics()).not.toContain('Request failed to');
    await waitForStreaming(cluster, next);
  });
});
