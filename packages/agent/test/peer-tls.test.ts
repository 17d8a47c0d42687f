// Issue 16: members call each other over mutual TLS. The real REST server with
// `verify_client: required` and a private CA (made with openssl); the agent's peer client set up
// from the `ctl` / `restapi` sections as the agent does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, createMemoryBackend, silentLogger, systemClock } from '@pgha/dcs';
import { createHttpPeerProbe, restClientTls, type CtlTlsSection, type RestapiTlsSection } from '@pgha/ha-engine';
import { createApiServer, type ApiServer, type ApiSnapshot } from '@pgha/rest-api';
import { makeTestCertificates, tempDir, type TestCertificates } from '@pgha/test-servers';
import { readFileSync } from 'node:fs';
import { createPeerHttp } from '../src/adapters/peer-http.js';

let dir: { path: string; remove(): Promise<void> };
let certs: TestCertificates;
let api: ApiServer;
let apiUrl: string;
const backend = createMemoryBackend();
const driver = backend.createDriver({ ttl: 30, loopWait: 10, retryTimeout: 5, namespace: '/service', scope: 'tls', name: 'pg1', section: {}, clock: systemClock, logger: silentLogger });
const store = createClusterStore(driver, { name: 'pg1', logger: silentLogger });

const replica: ApiSnapshot = {
  status: { state: 'running', role: 'replica', timeline: 2, xlog: { received_location: 4242, replayed_location: 4000 }, patroni: { version: '4.1.0', scope: 'tls', name: 'pg1' }, tags: {} },
  hasLock: false,
  cluster: null,
  lastCycleAt: 0,
  ttl: 30,
  maximumLagOnFailover: 1048576,
};

beforeAll(async () => {
  dir = await tempDir('pgha-peer-tls-');
  certs = await makeTestCertificates(dir.path);
  api = createApiServer({
    host: '127.0.0.1',
    port: 0,
    // The member being probed: as `restapi.certfile` / `cafile` / `verify_client: required`.
    tls: { cert: readFileSync(certs.serverCertFile), key: readFileSync(certs.serverKeyFile), ca: readFileSync(certs.caFile), verifyClient: 'required' },
    now: () => systemClock.now(),
    logger: silentLogger,
    failsafe: () => ({ kind: 'accepted', lsn: 4242 }),
    management: {
      loadCluster: () => store.loadCluster(),
      setFailover: (f) => store.setFailover(f),
      clearFailover: (v) => store.clearFailover(v),
      setConfig: (c, v) => store.setConfig(c, v),
      wakeup: () => {},
      waitForChange: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      now: () => systemClock.now(),
      wallNow: () => new Date(),
      loopWait: () => 1,
    },
  });
  const { port } = await api.listen();
  api.publish(replica);
  apiUrl = `https://127.0.0.1:${port}/patroni`;
}, 60_000);

afterAll(async () => {
  await api?.close();
  await driver.close();
  await dir?.remove();
});

/** Probes the member and POSTs /failsafe to it with a client built from these sections. */
async function callWith(sections: { ctl?: CtlTlsSection; restapi?: RestapiTlsSection }) {
  const probe = createHttpPeerProbe({ fetch: createPeerHttp({ tls: restClientTls({ client: 'agent', ...sections }) }) });
  const signal = new AbortController().signal;
  const [status] = await probe.probe([{ name: 'pg1', apiUrl }], { timeoutMs: 3000, signal });
  const [ack] = await probe.postFailsafe!([{ name: 'pg1', apiUrl }], { name: 'pg0', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'https://127.0.0.1:1/patroni' }, { timeoutMs: 3000, signal });
  return { status: status!, ack: ack! };
}

describe('peer probes and failsafe pings to a member with verify_client: required', () => {
  it('succeed with the ctl certificate and ctl.cacert: the WAL position is read', async () => {
    const { status, ack } = await callWith({ ctl: { certfile: certs.clientCertFile, keyfile: certs.clientKeyFile, cacert: certs.caFile } });
    expect(status).toMatchObject({ name: 'pg1', reachable: true, inRecovery: true, walPosition: 4242, timeline: 2 });
    expect(ack).toEqual({ name: 'pg1', accepted: true });
  });

  it('succeed with an encrypted ctl.keyfile and ctl.keyfile_password, trusting restapi.cafile', async () => {
    const { status } = await callWith({
      ctl: { certfile: certs.clientCertFile, keyfile: certs.encryptedClientKeyFile, keyfile_password: certs.keyPassword },
      restapi: { cafile: certs.caFile },
    });
    expect(status).toMatchObject({ reachable: true, walPosition: 4242 });
  });

  it('succeed presenting restapi.certfile when ctl.certfile is not set and this member asks for client certificates too', async () => {
    const { status, ack } = await callWith({
      restapi: { certfile: certs.serverCertFile, keyfile: certs.serverKeyFile, cafile: certs.caFile, verify_client: 'required' },
    });
    expect(status).toMatchObject({ reachable: true, walPosition: 4242 });
    expect(ack.accepted).toBe(true);
  });

  it('are refused without a client certificate, and the reason names the setting', async () => {
    const { status, ack } = await callWith({ ctl: { cacert: certs.caFile } });
    expect(status.reachable).toBe(false);
    expect(status.walPosition).toBeNull();
    expect(status.error).toBe(
      `GET ${apiUrl}: TLS: 127.0.0.1:${new URL(apiUrl).port} requires a client certificate (its restapi.verify_client) and none was presented: set ctl.certfile and ctl.keyfile [ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED]`,
    );
    expect(ack.accepted).toBe(false);
    expect(ack.error).toMatch(/^POST https:\/\/127\.0\.0\.1:\d+\/failsafe: TLS: .* requires a client certificate/);
  });

  it('are refused with a certificate from another CA, saying the member refused it', async () => {
    const { status } = await callWith({ ctl: { certfile: certs.otherClientCertFile, keyfile: certs.otherClientKeyFile, cacert: certs.caFile } });
    expect(status.reachable).toBe(false);
    expect(status.error).toMatch(new RegExp(`TLS: 127\\.0\\.0\\.1:\\d+ refused the client certificate ${certs.otherClientCertFile} \\(ctl\\.certfile\\): it must be signed by the CA in that member's restapi\\.cafile`));
  });

  it('fail when the member certificate cannot be verified, naming ctl.cacert (and ctl.insecure skips the check)', async () => {
    const { status } = await callWith({ ctl: { certfile: certs.clientCertFile, keyfile: certs.clientKeyFile } });
    expect(status.reachable).toBe(false);
    expect(status.error).toMatch(/TLS: cannot verify the certificate of 127\.0\.0\.1:\d+: it is not signed by any public CA, and neither ctl\.cacert nor restapi\.cafile is set; set ctl\.cacert .* or set ctl\.insecure: true to skip the check \[SELF_SIGNED_CERT_IN_CHAIN\]/);
    const wrongCa = await callWith({ ctl: { certfile: certs.clientCertFile, keyfile: certs.clientKeyFile, cacert: certs.otherCaFile } });
    expect(wrongCa.status.error).toMatch(new RegExp(`it is not signed by the CA in ctl\\.cacert \\(${certs.otherCaFile}\\)`));
    const insecure = await callWith({ ctl: { certfile: certs.clientCertFile, keyfile: certs.clientKeyFile, insecure: true } });
    expect(insecure.status).toMatchObject({ reachable: true, walPosition: 4242 });
  });

  it('refuse to start with an unreadable certificate or a wrong key password, naming the key', () => {
    expect(() => createPeerHttp({ tls: restClientTls({ client: 'agent', ctl: { certfile: `${dir.path}/missing.pem` } }) })).toThrow(/^ctl\.certfile: cannot read .*missing\.pem/);
    expect(() =>
      createPeerHttp({ tls: restClientTls({ client: 'agent', ctl: { certfile: certs.clientCertFile, keyfile: certs.encryptedClientKeyFile, keyfile_password: 'wrong' } }) }),
    ).toThrow(/^ctl\.certfile: cannot use the client certificate .* wrong keyfile_password/);
  });
});
