/**
 * End-to-end, issue 17 ("reload like Patroni"): SIGHUP applies changed `tags` and `log` to the
 * running agent, as Patroni's reload does, with the same agent process and postmaster. A replica
 * tagged `nofailover` on reload publishes the tag and stops being a switchover candidate; its log
 * moves into `log.dir` with the new format and per-logger levels (`patroni.ha: WARNING` holds back
 * the heartbeat lines). A reload with a bad `log`
 * section, or one naming a certificate file that cannot be read, is rejected whole: the tags it
 * also changes stay as they were.
 */
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClusterStore, startLocalCluster, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { waitFor } from '@pgha/test-servers';
import { WAIT_MS, tail, waitForStreaming } from './support/cluster-checks.js';
import { pghactl } from './support/pghactl.js';
import { apiJson } from './support/rest.js';

const DCS = (process.env['PGHA_E2E_DCS'] ?? 'etcd') as 'etcd' | 'zookeeper';
const TIMING = { ttl: 10, loopWait: 1, retryTimeout: 3 };

const postmasterPid = (m: MemberHandle) => Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
type ClusterView = { members: { name: string; tags?: Record<string, unknown> }[] };

describe(`SIGHUP reloads tags and log (${DCS})`, () => {
  let cluster: LocalCluster;
  let primary: MemberHandle;
  let replica: MemberHandle;
  const logDir = mkdtempSync(join(tmpdir(), 'pgha-reload-log-'));

  beforeAll(async () => {
    cluster = await startLocalCluster({
      dcs: DCS,
      scope: 'reload-tags',
      timing: TIMING,
      members: 2,
      postgresql: { proxy_address: '127.0.0.1:6432' },
      echo: process.env['PGHA_E2E_ECHO'] === '1',
    });
    primary = await cluster.waitForPrimary(WAIT_MS);
    replica = cluster.members.find((m) => m !== primary)!;
    // The agent runs as the owner of its config (postgres): the log directory is its to write.
    const owner = statSync(replica.configPath);
    chownSync(logDir, owner.uid, owner.gid);
    await waitForStreaming(cluster, primary);
  });

  afterAll(async () => {
    await cluster?.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  it("publishes postgresql.proxy_address as the member key's proxy_url, as Patroni", async () => {
    const store = await openClusterStore(cluster);
    try {
      const members = (await store.loadCluster()).members;
      expect(members.map((m) => [m.name, m.data.proxy_url]).sort()).toEqual(cluster.members.map((m) => [m.name, 'postgres://127.0.0.1:6432/postgres']).sort());
    } finally {
      await store.close();
    }
  });

  it('tags nofailover and a log directory take effect without a restart', async () => {
    const agent = replica.agent!.child.pid;
    const mark = replica.output().length;
    const postmaster = postmasterPid(replica);
    replica.editConfig((c) => ({
      ...c,
      tags: { nofailover: true, clonefrom: false },
      log: { ...(c['log'] as object), dir: logDir, format: '%(levelname)s %(name)s: %(message)s', loggers: { 'patroni.ha': 'WARNING' } },
    }));
    replica.reload();
    // The logging is reloaded first: the rest of the reload is told in the new file.
    const file = join(logDir, 'patroni.log');
    const logged = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
    await waitFor(`${replica.name} to reload`, async () => logged().includes('reloaded the configuration file'), WAIT_MS).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${tail(replica, 40)}`);
    });
    expect(logged()).toMatch(/^INFO patroni: tags changed tags=\{"nofailover":true,"clonefrom":false\}$/m);

    // The member key carries the tag (the primary's view of the cluster), and /patroni shows it.
    await waitFor('the tag in the DCS', async () => (await apiJson<ClusterView>(primary, '/cluster')).members.find((m) => m.name === replica.name)?.tags?.['nofailover'] === true, WAIT_MS);
    expect((await apiJson<{ tags?: Record<string, unknown> }>(replica, '/patroni')).tags).toEqual({ nofailover: true, clonefrom: false });

    // The log is in the directory, in the new format, with patroni.ha at DEBUG.

    // A nofailover member is refused as a switchover candidate.
    const refused = await pghactl(primary, ['switchover', '--leader', primary.name, '--candidate', replica.name, '--force']);
    expect(refused.code).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/not allowed to promote|nofailover|not a candidate|is not healthy|cannot be a candidate/i);
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(primary.name);

    expect(replica.agent!.child.pid).toBe(agent);
    expect(postmasterPid(replica)).toBe(postmaster);
    // Many HA cycles later (loop_wait 1 s): their INFO lines ("no action. I am ...") are held back
    // by `patroni.ha: WARNING` while the root logger's INFO lines went through.
    expect(logged()).not.toMatch(/patroni\.ha/);
    expect(replica.output().slice(mark)).not.toContain('tags changed');
  });

  it('a reload with a bad log section changes nothing, tags included', async () => {
    const file = join(logDir, 'patroni.log');
    const before = readFileSync(file, 'utf8').length;
    replica.editConfig((c) => ({ ...c, tags: {}, log: { ...(c['log'] as object), level: 'LOUD' } }));
    replica.reload();
    await waitFor('the rejection in patroni.log', async () => readFileSync(file, 'utf8').slice(before).includes('configuration reload rejected'), WAIT_MS);
    expect(readFileSync(file, 'utf8').slice(before)).toMatch(/log\.level: unknown level "LOUD"/);
    expect((await apiJson<{ tags?: Record<string, unknown> }>(replica, '/patroni')).tags).toEqual({ nofailover: true, clonefrom: false });
  });

  it('a changed DCS host list: applied in place on etcd, named for a restart on ZooKeeper', async () => {
    const mark = primary.output().length;
    const agent = primary.agent!.child.pid;
    const section = DCS === 'etcd' ? 'etcd3' : 'zookeeper';
    primary.editConfig((c) => {
      const dcs = c[section] as { hosts: string[] };
      // The same server listed twice: a different list that still reaches the one server there is.
      return { ...c, [section]: { ...dcs, hosts: [...dcs.hosts, ...dcs.hosts] } };
    });
    primary.reload();
    await waitFor(`${primary.name} to reload`, async () => primary.output().slice(mark).includes('reloaded the configuration file'), WAIT_MS);
    const said = primary.output().slice(mark);
    if (DCS === 'etcd') expect(said).toMatch(/DCS: etcd3 endpoints: http:\/\/127\.0\.0\.1:\d+ → http:\/\/127\.0\.0\.1:\d+,http:\/\/127\.0\.0\.1:\d+/);
    else expect(said).toContain('configuration file: zookeeper changed; the zookeeper driver applies it when the agent restarts');
    // Same agent, still the leader, the lock renewed through the new list.
    expect(primary.agent!.child.pid).toBe(agent);
    const later = primary.output().length;
    await waitFor('a renewal after the reload', async () => /no action\. I am \(\w+\), the leader with the lock/.test(primary.output().slice(later)), WAIT_MS);
    expect((await cluster.waitForPrimary(WAIT_MS)).name).toBe(primary.name);
  });

  it('a reload naming a certificate that cannot be read changes nothing either', async () => {
    const file = join(logDir, 'patroni.log');
    const before = readFileSync(file, 'utf8').length;
    replica.editConfig((c) => ({
      ...c,
      tags: {},
      log: { ...(c['log'] as object), level: 'INFO' },
      restapi: { ...(c['restapi'] as object), certfile: '/nonexistent/pgha-cert.pem', keyfile: '/nonexistent/pgha-key.pem' },
    }));
    replica.reload();
    await waitFor('the rejection in patroni.log', async () => readFileSync(file, 'utf8').slice(before).includes('configuration reload rejected'), WAIT_MS);
    expect(readFileSync(file, 'utf8').slice(before)).toMatch(/configuration reload rejected, keeping the running configuration: .*\/nonexistent\/pgha-cert\.pem/);
    // Still plain http, still the old tags.
    expect((await apiJson<{ tags?: Record<string, unknown> }>(replica, '/patroni')).tags).toEqual({ nofailover: true, clonefrom: false });
  });
});
