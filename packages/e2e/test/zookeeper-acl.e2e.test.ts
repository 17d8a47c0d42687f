/**
 * Issue 16, end to end: a three-member cluster on ZooKeeper with `auth_data` and `set_acls` in
 * the members' YAML, every znode locked to the agents' digest user. The cluster bootstraps,
 * replicates and switches over as without ACLs; every key, written by whichever member, carries
 * the ACL; ZooKeeper's own client without the credentials can neither read, change nor delete the
 * leader key, and the primary keeps its lock.
 *
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDcsDriver, startLocalCluster, type LocalCluster } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, diagnostics, isReplica, waitForRow, waitForStreaming } from './support/cluster-checks.js';
import { api } from './support/rest.js';
import { query } from '@pgha/workload';
import { parseAcl, zkCli } from './support/zk-cli.js';

const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };
const TABLE = 'acl_rows';
const CREDENTIAL = 'pgha:secret';
/** The digest id of CREDENTIAL: user:base64(sha1("user:password")). */
const DIGEST_ID = `pgha:${createHash('sha1').update(CREDENTIAL).digest('base64')}`;
const ACL = [`digest:${DIGEST_ID}:cdrwa`];
const echo = process.env['PGHA_E2E_ECHO'] === '1';

describe('a cluster on ZooKeeper with every znode under an ACL', () => {
  let cluster: LocalCluster;
  const base = () => `/service/${cluster.scope}`;

  beforeAll(async () => {
    cluster = await startLocalCluster({
      members: 3,
      scope: 'aclcluster',
      timing: TIMING,
      dcs: 'zookeeper',
      dcsSettings: { auth_data: { digest: CREDENTIAL }, set_acls: { [`digest:${DIGEST_ID}`]: ['ALL'] } },
      echo,
    });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    await query(primary, `CREATE TABLE ${TABLE} (id int PRIMARY KEY, note text)`);
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('puts the ACL on every key; a client without the credentials cannot touch the leader key, and the primary keeps its lock', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    // What the authenticated client sees: every key of the cluster, each with the ACL.
    const listing = await zkCli(cluster, [`ls ${base()}`, `ls ${base()}/members`], `digest ${CREDENTIAL}`);
    expect(listing).toMatch(/\[.*config.*initialize.*leader.*members.*\]/);
    const keys = ['', '/config', '/initialize', '/leader', '/members', '/status', ...cluster.members.map((m) => `/members/${m.name}`)];
    for (const key of keys) {
      expect(parseAcl(await zkCli(cluster, [`getAcl ${base()}${key}`], `digest ${CREDENTIAL}`)), `${base()}${key}`).toEqual(ACL);
    }
    expect(parseAcl(await zkCli(cluster, ['getAcl /service'], `digest ${CREDENTIAL}`))).toEqual(ACL);

    // Everyone else: no read, no change, no delete of the leader key, no new key in the cluster.
    const leader = `${base()}/leader`;
    const stranger = await zkCli(cluster, [`get ${leader}`, `set ${leader} mallory`, `delete ${leader}`, `create ${base()}/failover {}`, `getAcl ${leader}`]);
    expect(stranger.match(/Insufficient permission : \S+/g)).toEqual([
      `Insufficient permission : ${leader}`,
      `Insufficient permission : ${leader}`,
      `Insufficient permission : ${leader}`,
      `Insufficient permission : ${base()}/failover`,
      `Insufficient permission : ${leader}`,
    ]);
    const observer = await openDcsDriver(cluster, 'e2e-observer');
    try {
      expect((await observer.load()).nodes.get('leader')?.value).toBe(primary.name);
    } finally {
      await observer.close();
    }
    // The primary renewed its lock through it all and still accepts writes.
    await new Promise((resolve) => setTimeout(resolve, TIMING.ttl * 1000));
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(primary.name);
    await query(primary, `INSERT INTO ${TABLE} VALUES (1, 'under ACLs')`);
    for (const m of cluster.members) await waitForRow(m, TABLE, 1);
  });

  it('switches over: the keys the new primary creates carry the ACL too', async () => {
    const primary = await cluster.waitForPrimary(WAIT_MS);
    const candidate = cluster.members.find((m) => m !== primary)!;
    const res = await api(primary, 'POST', '/switchover', { leader: primary.name, candidate: candidate.name });
    expect(res).toEqual({ status: 200, text: `Successfully switched over to "${candidate.name}"` });
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(candidate.name);
    await waitForStreaming(cluster, candidate).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${diagnostics(cluster)}`);
    });
    expect(await isReplica(primary)).toBe(true);
    // The leader key is the candidate's now, and the promotion wrote the timeline history.
    await waitFor('the history key', async () => (await zkCli(cluster, [`ls ${base()}`], `digest ${CREDENTIAL}`)).includes('history'), WAIT_MS, 500);
    for (const key of ['/leader', '/history']) {
      expect(parseAcl(await zkCli(cluster, [`getAcl ${base()}${key}`], `digest ${CREDENTIAL}`)), key).toEqual(ACL);
    }
    expect(await zkCli(cluster, [`get ${base()}/leader`], `digest ${CREDENTIAL}`)).toMatch(new RegExp(`^${candidate.name}$`, 'm'));
    await query(candidate, `INSERT INTO ${TABLE} VALUES (2, 'after switchover')`);
    await waitForRow(primary, TABLE, 2);
  });
});
