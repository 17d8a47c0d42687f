/**
 * A cluster whose members are hosts: each member (agent + PostgreSQL) in a network namespace of
 * its own (network.ts), the DCS a 1- or 3-server etcd or ZooKeeper whose servers live on the
 * members' hosts (so a host crash takes a member and a DCS server together) or on hosts of their
 * own. Every path a fault may slow goes through a link proxy at the gateway: each member reaches
 * each DCS server through a proxy of its own, and peers reach a member's PostgreSQL through one
 * proxy in front of it. Cuts are nftables rules inside the namespaces (cuts.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ETCDCTL_BIN, startEtcd, startZooKeeper, tempDir, type EtcdCluster, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { dcsServers, memberConfig, waitForPrimaryOf, SUPERUSER, type ClusterTiming, type LocalCluster, type LocalClusterOptions } from '../cluster.js';
import { makeMember, type MemberHandle } from '../member.js';
import { networkCuts, type NetworkCuts, type ProxiedPath } from './cuts.js';
import { startLinkProxy, type LinkProxy, type LinkShape } from './link-proxy.js';
import { createHostNetwork, type Host, type HostNetwork } from './network.js';

export interface HostClusterOptions extends LocalClusterOptions {
  /** DCS servers: 1 or 3 (default 3). */
  dcsServers?: 1 | 3;
  /** `members` (default): DCS server j on member j's host; `own`: hosts of their own. */
  dcsPlacement?: 'members' | 'own';
  /** etcd's election timeout, ms (etcd's default 1000). */
  etcdElectionTimeoutMs?: number;
}

export interface HostCluster extends LocalCluster {
  network: HostNetwork;
  /** The host of member `m` (by name or handle). */
  hostOf(m: MemberHandle | string): Host;
  /** The host of each DCS server, by server index. */
  dcsHosts: Host[];
  dcsServer: EtcdCluster | ZooKeeperEnsemble;
  /** The DCS server index on `host`, or -1. */
  dcsServerOn(host: Host): number;
  /** The index of the etcd leader (or ZooKeeper leader) server; -1 when none answers. */
  dcsLeader(): Promise<number>;
  cuts: NetworkCuts;
  /** The proxy ports of `member`'s DCS links (for `cuts.cutPaths`: a member cut from the DCS only). */
  dcsLinkPorts(member: MemberHandle): number[];
  /** Moves etcd's leadership to server `j` (`etcdctl move-leader`); etcd only. */
  moveDcsLeader(j: number): Promise<void>;
  /** Shapes the links of `member` to the DCS servers (`servers`: indexes, default all). */
  slowDcsLink(member: MemberHandle, shape: LinkShape, servers?: number[]): void;
  /** Shapes the link peers use to reach `member`'s PostgreSQL (replication from/to it). */
  slowPeerLink(member: MemberHandle, shape: LinkShape): void;
  /** Clears every slow link. */
  clearLinks(): void;
  /** Link down, then SIGKILL of every process on the host: what a power loss does. */
  crashHost(host: Host): Promise<void>;
  /** Link up, then the host's DCS server and agents started again on their data. */
  restartHost(host: Host): Promise<void>;
  /** The client configuration that reaches `m`'s PostgreSQL as the superuser, for tools/workload. */
  pgTarget(m: MemberHandle): { name: string; pg: { host: string; port: number; user: string; password: string; database: string } };
}

const PG_PORT = 5432;
const API_PORT = 8008;

type EtcdStatus = { Endpoint: string; Status: { header: { member_id: string }; leader: string } };

/** `endpoint status` of every server; member ids are 64-bit, so they are kept as decimal strings. */
async function etcdStatus(server: EtcdCluster): Promise<EtcdStatus[]> {
  const raw = await server.etcdctl(['endpoint', 'status', '-w', 'json'], 5000);
  return JSON.parse(raw.replace(/"(member_id|leader)":(\d+)/g, '"$1":"$2"')) as EtcdStatus[];
}

/** etcdctl against one endpoint (move-leader must be sent to the leader). */
function execEtcdctl(endpoint: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(ETCDCTL_BIN, [`--endpoints=${endpoint}`, '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`etcdctl ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

const UNSUPPORTED = ['watchdog', 'restapiTls', 'hardened', 'connectPorts', 'etcdSetup', 'root', 'agents'] as const;

export async function startHostCluster(options: HostClusterOptions = {}): Promise<HostCluster> {
  for (const key of UNSUPPORTED) {
    if (options[key] !== undefined && options[key] !== false) throw new Error(`startHostCluster: option ${key} is not supported in the namespace mode`);
  }
  const count = options.members ?? 3;
  const dcsKind = options.dcs ?? 'etcd';
  const servers = options.dcsServers ?? 3;
  const placement = options.dcsPlacement ?? 'members';
  if (placement === 'members' && servers > count) throw new Error(`startHostCluster: ${servers} DCS servers on ${count} member hosts`);
  const scope = options.scope ?? 'demo';
  const timing: ClusterTiming = { ttl: 30, loopWait: 10, retryTimeout: 10, ...options.timing };
  const ids = postgresIds();

  const network = createHostNetwork({ hosts: count + (placement === 'own' ? servers : 0) });
  const proxies: { path: ProxiedPath; proxy: LinkProxy }[] = [];
  const members: MemberHandle[] = [];
  let dcsServer: EtcdCluster | ZooKeeperEnsemble | null = null;
  let temp: { path: string; remove(): Promise<void> } | null = null;
  const stop = async () => {
    try {
      await Promise.all(members.map((m) => m.stop()));
      for (const m of members) m.killPostmaster();
      await dcsServer?.stop();
      await Promise.all(proxies.map((p) => p.proxy.close()));
    } finally {
      network.teardown();
      await temp?.remove();
    }
  };
  try {
    temp = await tempDir('hosts');
    const root = temp.path;
    chownSync(root, ids.uid, ids.gid);
    const memberHosts = network.hosts.slice(0, count);
    const dcsHosts = placement === 'members' ? memberHosts.slice(0, servers) : network.hosts.slice(count);
    const tickTime = Math.max(500, Math.ceil((timing.ttl * 1000) / 20));
    dcsServer =
      dcsKind === 'etcd'
        ? await startEtcd({ members: servers, hosts: dcsHosts, ...(options.etcdElectionTimeoutMs ? { electionTimeoutMs: options.etcdElectionTimeoutMs } : {}) })
        : await startZooKeeper({ members: servers, tickTime, hosts: dcsHosts });
    const dcsPort = dcsKind === 'etcd' ? 2379 : 2181;
    const link = async (client: Host | null, target: Host, port: number) => {
      const proxy = await startLinkProxy({ listenHost: network.gateway, targetHost: target.address, targetPort: port });
      const entry = { path: { client, target, port: proxy.port }, proxy };
      proxies.push(entry);
      return entry;
    };
    const dcsLinks = await Promise.all(memberHosts.map((h) => Promise.all(dcsHosts.map((d) => link(h, d, dcsPort)))));
    const pgLinks = await Promise.all(memberHosts.map((h) => link(null, h, PG_PORT)));

    for (let i = 0; i < count; i++) {
      const host = memberHosts[i]!;
      const name = `pg${i}`;
      const dir = join(root, name);
      mkdirSync(join(dir, 'tmp'), { recursive: true });
      chownSync(dir, ids.uid, ids.gid);
      chownSync(join(dir, 'tmp'), ids.uid, ids.gid);
      const configPath = join(dir, 'agent.yml');
      const endpoints = dcsLinks[i]!.map((l) => l.proxy.address);
      const config = memberConfig({
        scope, name, root, pgPort: PG_PORT, apiPort: API_PORT, timing,
        address: host.address,
        connectAddresses: { pg: pgLinks[i]!.proxy.address },
        clientNetwork: network.subnet,
        dcs: { kind: dcsKind, endpoints, settings: options.dcsSettings ?? {} },
        ...(options.dynamic ? { dynamic: options.dynamic } : {}),
        ...(options.tags?.[i] ? { tags: options.tags[i] } : {}),
        ...(options.postgresql ? { postgresql: options.postgresql } : {}),
        ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}),
        ...(options.restapi ? { restapi: options.restapi } : {}),
      });
      writeFileSync(configPath, toYaml({ ...config, ...options.extra?.[i] }));
      chownSync(configPath, ids.uid, ids.gid);
      members.push(makeMember({
        name, index: i, pgPort: PG_PORT, apiPort: API_PORT, dir, configPath, kind: options.agent ?? 'pgha', ids,
        useDist: options.useDist ?? false, echo: options.echo ?? false, watchdog: null, env: options.agentEnv?.[i] ?? {}, tls: null, host,
      }));
    }
    for (const m of members) m.start();

    const server = dcsServer;
    const cuts = networkCuts(network, () => proxies.map((p) => p.path));
    const hostOf = (m: MemberHandle | string) => {
      const i = members.findIndex((x) => x === m || x.name === m);
      if (i < 0) throw new Error(`no member ${typeof m === 'string' ? m : m.name}`);
      return memberHosts[i]!;
    };
    const cluster: HostCluster = {
      scope, root, members, timing, tls: null, network, dcsHosts, dcsServer: server, cuts, hostOf,
      dcs: {
        kind: dcsKind,
        endpoints: dcsLinks[0]!.map((l) => l.proxy.address),
        settings: options.dcsSettings ?? {},
        freeze: () => server.freeze(0),
        thaw: () => server.thaw(0),
        stop: (o?: { kill?: boolean }) => server.stopMember(0, o),
        start: () => server.startMember(0),
        // The servers on their hosts' addresses (the members reach them through the link proxies).
        servers: dcsServers(server, dcsHosts.length, dcsHosts.map((h) => `${h.address}:${dcsPort}`)),
      },
      dcsServerOn: (host) => dcsHosts.indexOf(host),
      async dcsLeader() {
        if ('leaderIndex' in server) return server.leaderIndex();
        try {
          const out = await etcdStatus(server);
          const leader = out.find((e) => e.Status.header.member_id === e.Status.leader);
          return leader ? server.endpoints.indexOf(leader.Endpoint) : -1;
        } catch {
          return -1;
        }
      },
      waitForPrimary: (timeoutMs, exclude) => waitForPrimaryOf(members, timeoutMs, exclude),
      dcsLinkPorts: (member) => dcsLinks[members.indexOf(member)]!.map((l) => l.proxy.port),
      async moveDcsLeader(j) {
        if (!('etcdctl' in server)) throw new Error('moveDcsLeader: etcd only');
        const status = await etcdStatus(server);
        const target = status.find((e) => e.Endpoint === server.endpoints[j]);
        if (!target) throw new Error(`moveDcsLeader: no status of ${server.endpoints[j]}`);
        if (target.Status.header.member_id === target.Status.leader) return;
        const leader = status.find((e) => e.Status.header.member_id === e.Status.leader);
        if (!leader) throw new Error('moveDcsLeader: no etcd leader');
        await execEtcdctl(leader.Endpoint, ['move-leader', BigInt(target.Status.header.member_id).toString(16)]);
      },
      slowDcsLink(member, shape, which) {
        const i = members.indexOf(member);
        dcsLinks[i]!.forEach((l, j) => (which === undefined || which.includes(j)) && l.proxy.shape(shape));
      },
      slowPeerLink(member, shape) {
        pgLinks[members.indexOf(member)]!.proxy.shape(shape);
      },
      clearLinks() {
        for (const p of proxies) p.proxy.shape({ delayMs: 0, jitterMs: 0, loss: 0 });
      },
      async crashHost(host) {
        network.setLink(host, false);
        const j = dcsHosts.indexOf(host);
        await Promise.all([
          ...members.filter((m) => hostOf(m) === host).map(async (m) => {
            await m.killAgent();
            m.killPostmaster();
          }),
          ...(j >= 0 ? [server.stopMember(j, { kill: true })] : []),
        ]);
      },
      async restartHost(host) {
        network.setLink(host, true);
        const j = dcsHosts.indexOf(host);
        if (j >= 0) await server.startMember(j);
        for (const m of members) if (hostOf(m) === host) m.start();
      },
      pgTarget: (m) => ({ name: m.name, pg: { host: m.address, port: m.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres' } }),
      addMember: () => Promise.reject(new Error('startHostCluster: addMember is not supported in the namespace mode')),
      stop,
    };
    return cluster;
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
}
