// etcd serving clients over TLS and requiring client certificates: the etcd3 section's
// protocol/cacert/cert/key (Patroni's keys) connect; without a client certificate nothing does.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDcsError, type DcsDriver } from '@pgha/dcs';
import { makeEtcdCertificates, startEtcd, tempDir, type EtcdCluster, type EtcdTls } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions, randomScope } from './fixtures/driver-options.js';

let etcd: EtcdCluster;
let dir: { path: string; remove(): Promise<void> };
let tls: EtcdTls;
let hosts: string;
const opened: DcsDriver[] = [];

beforeAll(async () => {
  dir = await tempDir('etcd-tls');
  tls = await makeEtcdCertificates(dir.path, { clientCertAuth: true });
  etcd = await startEtcd({ members: 1, tls });
  hosts = etcd.endpoints.map((e) => e.replace('https://', '')).join(',');
});

afterAll(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close({ revoke: true }).catch(() => undefined)));
  await etcd?.stop();
  await dir?.remove();
});

async function make(section: Record<string, unknown>): Promise<DcsDriver> {
  const d = await createDriver(driverOptions(etcd.endpoints, { scope: randomScope(), name: 'pg0', section: { hosts, ...section } }));
  opened.push(d);
  return d;
}

describe('etcd over TLS with client certificates', () => {
  it('connects with protocol https, cacert, cert and key', async () => {
    expect(etcd.endpoints[0]).toMatch(/^https:\/\//);
    const d = await make({ protocol: 'https', cacert: tls.caFile, cert: tls.clientCertFile, key: tls.clientKeyFile });
    await d.touchMember('{"state":"running"}');
    expect(await d.acquireLeader()).toBe(true);
    expect(await d.renewLeader()).toBe(true);
    expect([...(await d.load()).nodes.keys()].sort()).toEqual(['leader', 'members/pg0']);
  });

  it('accepts a cert file that also holds the private key', async () => {
    const combined = join(dir.path, 'client-combined.pem');
    await writeFile(combined, Buffer.concat([await readFile(tls.clientCertFile), await readFile(tls.clientKeyFile)]));
    const d = await make({ protocol: 'https', cacert: tls.caFile, cert: combined });
    expect(await d.write('config', '{}', { kind: 'absent' })).toBe(true);
  });

  it('fails by its deadline, without hanging, when no client certificate is given', async () => {
    const d = await make({ protocol: 'https', cacert: tls.caFile });
    const error = await d.load({ timeoutMs: 1500 }).then(() => null, (e: unknown) => e);
    // etcd drops the TLS handshake, which gRPC reports like an unreachable server.
    expect(isDcsError(error, 'DCS_UNAVAILABLE'), String(error)).toBe(true);
  });
});
