// Issue 16: pghactl against members' https APIs signed by a private CA (made with openssl), with
// mutual TLS (`verify_client: required`): the real REST server, the real CLI in process, the
// cluster in the in-memory DCS.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterStore, silentLogger, systemClock, type DcsDriver } from '@pgha/dcs';
import { createApiServer, type ApiServer, type ApiSnapshot } from '@pgha/rest-api';
import { makeTestCertificates, tempDir, type TestCertificates } from '@pgha/test-servers';
import { memberJson, seedCluster, type SeededCluster } from './fixtures/memory-cluster.ts';

let dir: { path: string; remove(): Promise<void> };
let certs: TestCertificates;
let c: SeededCluster;
const servers: ApiServer[] = [];
const drivers: DcsDriver[] = [];

/** A member's REST API on `host` over TLS with `verify_client: required`; a switchover request is carried out at once, as the leader's loop would. */
async function memberApi(name: string, host: string): Promise<number> {
  const driver = c.backend.createDriver({ namespace: '/service', scope: c.scope, name: `${name}-api`, section: {}, ttl: 300, loopWait: 10, retryTimeout: 2, clock: systemClock, logger: silentLogger });
  drivers.push(driver);
  const store = createClusterStore(driver, { name, logger: silentLogger });
  const api = createApiServer({
    host,
    port: 0,
    tls: { cert: readFileSync(certs.serverCertFile), key: readFileSync(certs.serverKeyFile), ca: readFileSync(certs.caFile), verifyClient: 'required' },
    now: () => systemClock.now(),
    logger: silentLogger,
    management: {
      loadCluster: () => store.loadCluster(),
      setFailover: (f) => store.setFailover(f),
      clearFailover: (v) => store.clearFailover(v),
      setConfig: (cfg, v) => store.setConfig(cfg, v),
      // The HA loops' part: pg0 hands the lock to the candidate and clears the request.
      wakeup: () =>
        void (async () => {
          const [pg0, pg1] = c.drivers;
          await pg0!.releaseLeader();
          await pg1!.acquireLeader();
          await c.drivers.at(-1)!.remove('failover', { kind: 'any' });
        })(),
      waitForChange: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      now: () => systemClock.now(),
      wallNow: () => new Date(),
      loopWait: () => 1,
    },
  });
  servers.push(api);
  const { port } = await api.listen();
  const snapshot: ApiSnapshot = {
    status: { state: 'running', role: 'primary', server_version: 150004, timeline: 1, xlog: { location: 1000 }, patroni: { version: '4.1.0', scope: c.scope, name }, tags: {} },
    hasLock: true,
    cluster: null,
    lastCycleAt: 0,
    ttl: 30,
    maximumLagOnFailover: 1048576,
  };
  api.publish(snapshot);
  return port;
}

/** A ctl file with these `ctl` keys (and `restapi` ones, as an agent's YAML has them). */
async function ctlFile(name: string, sections: { ctl?: Record<string, unknown>; restapi?: Record<string, unknown> }): Promise<string> {
  const path = join(dir.path, `${name}.yml`);
  await writeFile(path, JSON.stringify({ scope: c.scope, ...sections }));
  return path;
}

let pg0Url: string;
let misnamedUrl: string;

beforeAll(async () => {
  dir = await tempDir('pgha-ctl-tls-');
  certs = await makeTestCertificates(dir.path);
  c = await seedCluster({ scope: 'tls', members: { pg0: memberJson('pg0', 5432, { role: 'primary' }), pg1: memberJson('pg1', 5433) }, leader: 'pg0' });
  const port = await memberApi('pg0', '127.0.0.1');
  // 127.0.0.2 is not in the server certificate's subjectAltName.
  const misnamed = await memberApi('pg1', '127.0.0.2');
  pg0Url = `https://127.0.0.1:${port}/patroni`;
  misnamedUrl = `https://127.0.0.2:${misnamed}/patroni`;
  await c.drivers[0]!.touchMember(JSON.stringify(memberJson('pg0', 5432, { role: 'primary', api_url: pg0Url })));
  await c.drivers[1]!.touchMember(JSON.stringify(memberJson('pg1', 5433, { api_url: misnamedUrl })));
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all([...drivers, ...(c?.drivers ?? [])].map((d) => d.close()));
  await dir?.remove();
});

describe('pghactl and an https API with a private CA and verify_client: required', () => {
  it('works without -k given ctl.cacert, ctl.certfile and ctl.keyfile: version, then a switchover through the API', async () => {
    const config = await ctlFile('mtls', { ctl: { cacert: certs.caFile, certfile: certs.clientCertFile, keyfile: certs.clientKeyFile } });
    const version = await c.run(['-c', config, 'version', 'tls', 'pg0']);
    expect(version.stdout).toContain('pg0: Patroni 4.1.0 PostgreSQL 15.4');
    expect(version.code).toBe(0);
    const list = await c.run(['-c', config, 'list']);
    expect(list.stdout).toMatch(/\| pg0 +\| 127\.0\.0\.1:5432 \| Leader/);
    const switchover = await c.run(['-c', config, 'switchover', '--leader', 'pg0', '--candidate', 'pg1', '--force']);
    expect(switchover.stdout).toMatch(/Successfully switched over to "pg1"/);
    expect(switchover.stdout).not.toContain('falling back to DCS');
    expect(switchover.stderr).toBe('');
    expect(switchover.code).toBe(0);
    // Back to pg0 for the other tests.
    await c.drivers[1]!.releaseLeader();
    await c.drivers[0]!.acquireLeader();
  });

  it('takes an encrypted key with ctl.keyfile_password, and the agent YAML\u2019s restapi.cafile as the CA', async () => {
    const config = await ctlFile('agent-yaml', {
      restapi: { listen: '127.0.0.1:8008', cafile: certs.caFile },
      ctl: { certfile: certs.clientCertFile, keyfile: certs.encryptedClientKeyFile, keyfile_password: certs.keyPassword },
    });
    const version = await c.run(['-c', config, 'version', 'tls', 'pg0']);
    expect(version.stdout).toContain('pg0: Patroni 4.1.0');
    // The same from the environment, as Patroni reads PATRONI_CTL_*.
    const bare = await ctlFile('bare', {});
    const env = { PATRONI_CTL_CACERT: certs.caFile, PATRONI_CTL_CERTFILE: certs.clientCertFile, PATRONI_CTL_KEYFILE: certs.encryptedClientKeyFile, PATRONI_CTL_KEYFILE_PASSWORD: certs.keyPassword };
    expect((await c.run(['-c', bare, 'version', 'tls', 'pg0'], '', { env })).stdout).toContain('pg0: Patroni 4.1.0');
  });

  it('fails with a clear error when the CA is not given, and -k (or ctl.insecure) skips the check', async () => {
    const config = await ctlFile('no-ca', { ctl: { certfile: certs.clientCertFile, keyfile: certs.clientKeyFile } });
    const version = await c.run(['-c', config, 'version', 'tls', 'pg0']);
    expect(version.code).toBe(1);
    expect(version.stdout).toContain(
      `pg0: failed to get version: GET https://127.0.0.1:${new URL(pg0Url).port}/patroni (member pg0) failed: TLS: cannot verify the certificate of 127.0.0.1:${new URL(pg0Url).port}: it is not signed by any public CA, and neither ctl.cacert nor restapi.cafile is set; set ctl.cacert to the CA that signs the members' REST API certificates, or pass -k/--insecure to skip the check [SELF_SIGNED_CERT_IN_CHAIN]`,
    );
    // A switchover falls back to the DCS, as patronictl's does, and says why on stderr.
    const switchover = await c.run(['-c', config, 'switchover', '--leader', 'pg0', '--candidate', 'pg1', '--scheduled', '2099-01-01T00:00+00:00', '--force']);
    expect(switchover.stdout).toContain('Could not switchover using Patroni api, falling back to DCS');
    expect(switchover.stderr).toMatch(/^Warning: POST https:\/\/127\.0\.0\.1:\d+\/switchover \(member pg0\) failed: TLS: cannot verify the certificate/);
    await c.drivers.at(-1)!.remove('failover', { kind: 'any' });
    expect((await c.run(['-c', config, '-k', 'version', 'tls', 'pg0'])).stdout).toContain('pg0: Patroni 4.1.0');
    const insecure = await ctlFile('insecure', { ctl: { insecure: 'on', certfile: certs.clientCertFile, keyfile: certs.clientKeyFile } });
    expect((await c.run(['-c', insecure, 'version', 'tls', 'pg0'])).stdout).toContain('pg0: Patroni 4.1.0');
  });

  it('says the member wants a client certificate when none is configured, and checks the host name', async () => {
    const config = await ctlFile('no-cert', { ctl: { cacert: certs.caFile } });
    const version = await c.run(['-c', config, 'version', 'tls', 'pg0']);
    expect(version.stdout).toMatch(/pg0: failed to get version: .* TLS: 127\.0\.0\.1:\d+ requires a client certificate \(its restapi\.verify_client\) and none was presented: set ctl\.certfile and ctl\.keyfile/);
    const full = await ctlFile('full', { ctl: { cacert: certs.caFile, certfile: certs.clientCertFile, keyfile: certs.clientKeyFile } });
    const misnamed = await c.run(['-c', full, 'version', 'tls', 'pg1']);
    expect(misnamed.stdout).toMatch(/pg1: failed to get version: .* TLS: the certificate of 127\.0\.0\.2:\d+ is not issued for that name: .*\[ERR_TLS_CERT_ALTNAME_INVALID\]/);
  });

  it('names the key of a certificate file it cannot read', async () => {
    const config = await ctlFile('missing', { ctl: { cacert: certs.caFile, certfile: join(dir.path, 'nope.pem'), keyfile: certs.clientKeyFile } });
    const version = await c.run(['-c', config, 'version', 'tls', 'pg0']);
    expect(version.stdout).toMatch(/pg0: failed to get version: ctl\.certfile: cannot read .*nope\.pem/);
  });
});
