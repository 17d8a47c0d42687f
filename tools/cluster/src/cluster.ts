/**
 * A whole HA cluster on loopback: a DCS (etcd or ZooKeeper, started here), N agents and their
 * PostgreSQL servers, each member with its own Patroni-style YAML file. The same YAML drives pgha
 * or Patroni, so the benchmark runs both on identical settings. Agents run as the `postgres` OS
 * user (PostgreSQL refuses root), in a temporary directory removed by `stop()`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import {
  freePorts,
  makeTestCertificates,
  startEtcd,
  startZooKeeper,
  type EtcdCluster,
  type ZooKeeperEnsemble,
  tempDir,
  waitFor,
} from '@pgha/test-servers';
import { killPostgres, superviseTestingDevice } from '@pgha/watchdog';
import { agentFrom, runsFromDist } from './agent-build.js';
import { REPO_ROOT, makeMember, type AgentKind, type ClusterTls, type MemberHandle } from './member.js';

export type DcsKind = 'etcd' | 'zookeeper';

export interface ClusterTiming {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

export interface LocalClusterOptions {
  members?: number;
  /** The agent of every member (default pgha), unless `agents` names another for it. */
  agent?: AgentKind;
  /**
   * Per-member agent kinds, by member index, over `agent`: a mixed cluster of Patroni and pgha
   * members on the same YAML format (`MemberHandle.replaceAgent` switches one later).
   */
  agents?: Record<number, AgentKind>;
  dcs?: DcsKind;
  /**
   * Servers of the DCS: 1 (default), or a 3-server etcd cluster / ZooKeeper ensemble, for faults
   * of the DCS cluster itself (`LocalCluster.dcs.servers`). Every member lists every server.
   */
  dcsServers?: 1 | 3;
  /** Extra keys of every member's DCS section (`etcd3:` or `zookeeper:`), e.g. ZooKeeper's `auth_data` and `set_acls`. */
  dcsSettings?: Record<string, unknown>;
  /**
   * Runs once etcd is up and before any member starts, with the server's `etcdctl` (e.g. to
   * create users and roles and enable authentication). Only with `dcs: 'etcd'`.
   */
  etcdSetup?: (etcdctl: (args: string[]) => Promise<string>) => Promise<void>;
  scope?: string;
  timing?: Partial<ClusterTiming>;
  /** The largest ttl a test will set at run time (PATCH /config); ZooKeeper's tick is sized for it. */
  maxTtl?: number;
  /** Extra dynamic configuration merged into `bootstrap.dcs`. */
  dynamic?: Record<string, unknown>;
  /** Per-member tags, by member index. */
  tags?: Record<number, Record<string, unknown>>;
  /** Extra keys merged into every member's local `postgresql:` section (e.g. `callbacks`). */
  postgresql?: Record<string, unknown>;
  /** Extra keys merged into every member's `bootstrap:` section (e.g. `method` and its section). */
  bootstrap?: Record<string, unknown>;
  /** Per-member top-level YAML sections (e.g. `watchdog`), by member index, merged over the defaults. */
  extra?: Record<number, Record<string, unknown>>;
  /** Extra keys merged into every member's `restapi:` section (e.g. `authentication`). */
  restapi?: Record<string, unknown>;
  /** Run pgha from its built `dist` instead of the TypeScript sources (default: PGHA_AGENT_FROM, agent-build.ts). */
  useDist?: boolean;
  /** Forward agents' output to this process's stderr, prefixed with the member name. */
  echo?: boolean;
  /** Root directory to use instead of a new temporary one (kept on stop). */
  root?: string;
  /**
   * Give each pgha member a watchdog (`mode: required`, the FIFO `testing` driver) whose
   * supervisor runs here and, when it fires, SIGKILLs that member's PostgreSQL — what a machine
   * reset does to a node whose agent hangs. Ignored for Patroni.
   */
  watchdog?: boolean | { safetyMargin?: number };
  /**
   * Per-member ports peers are told to use (`postgresql.connect_address`,
   * `restapi.connect_address`), by member index: e.g. TCP proxies in front of the member, so a
   * chaos run can cut it off from its peers. `listen` stays the member's own port.
   */
  connectPorts?: Record<number, { pg?: number; api?: number }>;
  /** Per-member extra environment of the agent (inherited by what it starts), by member index. */
  agentEnv?: Record<number, Record<string, string>>;
  /**
   * Serve every member's REST API over https with certificates of a private CA made here
   * (`restapi.certfile`, `keyfile`, `cafile`, `verify_client`), and give each member the client
   * certificate for its peers (`ctl.certfile`, `keyfile`, `cacert`) unless `ctlCertificate` is
   * false. The harness calls the APIs with that client certificate too.
   */
  restapiTls?: { verifyClient?: 'none' | 'optional' | 'required'; ctlCertificate?: boolean };
  /**
   * The locked-down cluster of docs/security.md's hardening section: https with a private CA,
   * `verify_client: required`, each member's client certificate in `ctl`, Basic auth
   * (HARDENED_API_USER) on the API. Default: on when PGHA_E2E_HARDENED=1 and the cluster sets
   * neither `restapiTls` nor `restapi` itself (so the whole e2e suite can run locked down).
   */
  hardened?: boolean;
  /**
   * `loopback` (default): every server on 127.0.0.1. `namespaces`: each member (and each DCS
   * server) on a host of its own, a network namespace with its own address (needs root; see
   * `startHostCluster`, which has the options and faults of that mode).
   */
  network?: 'loopback' | 'namespaces';
}

/** The API credentials of a `hardened` cluster. */
export const HARDENED_API_USER = { username: 'pgha-admin', password: 'pgha-hardened-secret' };

/** Whether `options` asks for a hardened cluster, explicitly or through PGHA_E2E_HARDENED=1. */
export function isHardened(options: LocalClusterOptions): boolean {
  return options.hardened ?? (process.env['PGHA_E2E_HARDENED'] === '1' && !options.restapiTls && !options.restapi);
}



export interface LocalCluster {
  scope: string;
  root: string;
  members: MemberHandle[];
  dcs: {
    kind: DcsKind;
    endpoints: string[];
    /** The extra keys of the members' DCS section (`LocalClusterOptions.dcsSettings`). */
    settings: Record<string, unknown>;
    /** These four act on every server of the DCS at once. */
    freeze(): void;
    thaw(): void;
    /** SIGTERM, or SIGKILL with `{ kill: true }` (a crash, for chaos runs); keeps the data. */
    stop(options?: { kill?: boolean }): Promise<void>;
    start(): Promise<void>;
    /** Each server on its own (index 0 .. count - 1), for leader changes and lost quorum. */
    servers: DcsServers;
  };
  timing: ClusterTiming;
  /** The certificates of an https cluster (`restapiTls`), else null. */
  tls: ClusterTls | null;
  /** The member whose API says it is the primary holding the lock, waiting up to `timeoutMs`. */
  waitForPrimary(timeoutMs?: number, exclude?: string): Promise<MemberHandle>;
  /**
   * Adds a member online, as the seed manual's chapter 7 says: a copy of the others' YAML with
   * its own name and addresses, then its agent started. `tags` as in the `tags` option.
   * `options.name` keeps another member's `name` in the copy (the mistake of issue 15: only the
   * ports and the data directory changed); the member's directory is still its own, `pg<index>`.
   */
  addMember(tags?: Record<string, unknown>, options?: { name?: string }): Promise<MemberHandle>;
  stop(): Promise<void>;
}

export interface DcsServers {
  count: number;
  /** Client port of each server, in server order (where a proxy in front of it points). */
  ports: number[];
  stop(i: number, options?: { kill?: boolean }): Promise<void>;
  /** Starts a stopped server again on its data; resolves once it serves. */
  start(i: number): Promise<void>;
  freeze(i: number): void;
  thaw(i: number): void;
  /** Whether server `i` runs (was not stopped by `stop`). */
  running(i: number): boolean;
  /** Index of the server that leads (etcd's raft leader, ZooKeeper's `Mode: leader`); -1 if none. */
  leader(): Promise<number>;
  /** etcdctl (API v3) against every server; only on etcd. */
  etcdctl?: (args: string[]) => Promise<string>;
}

export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';
export const SUPERUSER = { username: 'postgres', password: 'pgha-super' };
export const REPLICATION = { username: 'replicator', password: 'pgha-repl' };
export const REWIND = { username: 'rewinder', password: 'pgha-rewind' };

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}


/** The YAML of one member, in Patroni's format. */
export function memberConfig(options: {
  scope: string;
  name: string;
  /** The member's directory under `root`; default its name. */
  dirName?: string;
  root: string;
  pgPort: number;
  apiPort: number;
  dcs: { kind: DcsKind; endpoints: string[]; settings?: Record<string, unknown> };
  timing: ClusterTiming;
  dynamic?: Record<string, unknown>;
  tags?: Record<string, unknown>;
  /** The `watchdog:` section, if any. */
  watchdog?: Record<string, unknown>;
  /** Extra keys of the local `postgresql:` section. */
  postgresql?: Record<string, unknown>;
  /** Extra keys of the `bootstrap:` section. */
  bootstrap?: Record<string, unknown>;
  /** Ports in the connect addresses instead of the listen ports (see `LocalClusterOptions.connectPorts`). */
  connectPorts?: { pg?: number; api?: number };
  /** Keys merged into `restapi:` (TLS, authentication), and the `ctl:` section. */
  restapi?: Record<string, unknown>;
  ctl?: Record<string, unknown>;
  /** The address the member listens on (default 127.0.0.1; a host's address in the namespace mode). */
  address?: string;
  /** Whole `host:port` connect addresses, over `connectPorts` (a link proxy in the namespace mode). */
  connectAddresses?: { pg?: string; api?: string };
  /** The network clients and peers come from, for pg_hba (default 127.0.0.1/32). */
  clientNetwork?: string;
}): Record<string, unknown> {
  const dir = join(options.root, options.dirName ?? options.name);
  const address = options.address ?? '127.0.0.1';
  const net = options.clientNetwork ?? '127.0.0.1/32';
  const hba = [`host replication ${REPLICATION.username} ${net} md5`, `host all all ${net} md5`, 'local all all trust'];
  const dcsSection =
    options.dcs.kind === 'etcd'
      ? { etcd3: { hosts: options.dcs.endpoints.map((e) => e.replace(/^https?:\/\//, '')), ...options.dcs.settings } }
      : { zookeeper: { hosts: options.dcs.endpoints, ...options.dcs.settings } };
  return {
    scope: options.scope,
    namespace: '/service',
    name: options.name,
    log: { level: 'INFO' },
    restapi: {
      listen: `${address}:${options.apiPort}`,
      connect_address: options.connectAddresses?.api ?? `${address}:${options.connectPorts?.api ?? options.apiPort}`,
      ...options.restapi,
    },
    ...(options.ctl ? { ctl: options.ctl } : {}),
    ...dcsSection,
    bootstrap: {
      dcs: {
        ttl: options.timing.ttl,
        loop_wait: options.timing.loopWait,
        retry_timeout: options.timing.retryTimeout,
        maximum_lag_on_failover: 1048576,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: { wal_level: 'replica', hot_standby: 'on', wal_log_hints: 'on', max_wal_senders: 10, max_replication_slots: 10, wal_keep_size: '64MB', max_connections: 50 },
        },
        ...options.dynamic,
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, 'data-checksums'],
      pg_hba: hba,
      ...options.bootstrap,
    },
    postgresql: {
      listen: `${address}:${options.pgPort}`,
      connect_address: options.connectAddresses?.pg ?? `${address}:${options.connectPorts?.pg ?? options.pgPort}`,
      data_dir: join(dir, 'data'),
      bin_dir: PG_BIN_DIR,
      pgpass: join(dir, 'pgpass'),
      authentication: { superuser: SUPERUSER, replication: REPLICATION, rewind: REWIND },
      parameters: { unix_socket_directories: dir, shared_buffers: '16MB', fsync: 'off' },
      pg_hba: hba,
      ...options.postgresql,
    },
    tags: options.tags ?? {},
    ...(options.watchdog ? { watchdog: options.watchdog } : {}),
  };
}

/** The member whose API says it is the primary holding the lock, waiting up to `timeoutMs`. */
export async function waitForPrimaryOf(members: readonly MemberHandle[], timeoutMs = 120_000, exclude?: string): Promise<MemberHandle> {
  let found: MemberHandle | undefined;
  await waitFor('a primary holding the leader lock', async () => {
    for (const m of members) {
      if (m.name === exclude) continue;
      const s = await m.status();
      if (s && (s['role'] === 'master' || s['role'] === 'primary') && s['state'] === 'running') {
        const res = await m.get('/primary');
        if (res?.status === 200) {
          found = m;
          return true;
        }
      }
    }
    return false;
  }, timeoutMs, 200);
  return found!;
}

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  // Imported when asked for: the namespace mode builds on this module's member configuration.
  if (options.network === 'namespaces') return (await import('./netns/host-cluster.js')).startHostCluster(options);
  const count = options.members ?? 3;
  const kind = options.agent ?? 'pgha';
  const dcsKind = options.dcs ?? 'etcd';
  const scope = options.scope ?? 'demo';
  const timing: ClusterTiming = { ttl: 30, loopWait: 10, retryTimeout: 10, ...options.timing };
  const ids = postgresIds();
  const useDist = options.useDist ?? runsFromDist(agentFrom(), REPO_ROOT);

  const temp = options.root ? null : await tempDir('cluster');
  const root = options.root ?? temp!.path;
  mkdirSync(root, { recursive: true });
  chownSync(root, ids.uid, ids.gid);

  // ZooKeeper grants sessions of at most 20 ticks: tick long enough that the agents get the ttl
  // they ask for (a 500 ms tick would cut ttl 30 to a 10 s session, Patroni's and pgha's alike).
  const tickTime = Math.max(500, Math.ceil((Math.max(timing.ttl, options.maxTtl ?? 0) * 1000) / 20));
  const serverCount = options.dcsServers ?? 1;
  const dcsServer = dcsKind === 'etcd' ? await startEtcd({ members: serverCount }) : await startZooKeeper({ members: serverCount, tickTime });
  const endpoints = 'endpoints' in dcsServer ? dcsServer.endpoints : dcsServer.connectString.split(',');
  const serverIndexes = Array.from({ length: serverCount }, (_, i) => i);
  const servers = dcsServers(dcsServer, serverCount, endpoints);
  if (options.etcdSetup) {
    if (!('etcdctl' in dcsServer)) throw new Error('startLocalCluster: etcdSetup needs dcs: etcd');
    await options.etcdSetup((args) => dcsServer.etcdctl(args));
  }
  const ports = await freePorts(count * 2);
  const hardened = isHardened(options);
  const tlsWanted = options.restapiTls ?? (hardened ? { verifyClient: 'required' as const } : undefined);
  const tls = tlsWanted ? await makeClusterTls(root, ids) : null;
  const restapiTls = tls
    ? { certfile: tls.certificates.serverCertFile, keyfile: tls.certificates.serverKeyFile, cafile: tls.certificates.caFile, verify_client: tlsWanted?.verifyClient ?? 'required' }
    : undefined;
  const restapiExtra = { ...(hardened ? { authentication: HARDENED_API_USER } : {}), ...options.restapi };
  const apiAuth = (restapiExtra as { authentication?: { username: string; password: string } }).authentication;
  const ctlTls =
    tls && options.restapiTls?.ctlCertificate !== false
      ? { certfile: tls.certificates.clientCertFile, keyfile: tls.certificates.clientKeyFile, cacert: tls.certificates.caFile }
      : undefined;

  const members: MemberHandle[] = [];
  const createMember = (i: number, pgPort: number, apiPort: number, tags: Record<string, unknown> | undefined, nameOverride?: string): MemberHandle => {
    const dirName = `pg${i}`;
    const name = nameOverride ?? dirName;
    const dir = join(root, dirName);
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    chownSync(dir, ids.uid, ids.gid);
    chownSync(join(dir, 'tmp'), ids.uid, ids.gid);
    const configPath = join(dir, 'agent.yml');
    const memberKind = options.agents?.[i] ?? kind;
    const watchdog = options.watchdog && memberKind === 'pgha' ? superviseTestingDevice({ fifo: join(dir, 'watchdog.fifo'), onFire: () => killPostgres(join(dir, 'data')) }) : null;
    const margin = typeof options.watchdog === 'object' ? options.watchdog.safetyMargin : undefined;
    const config = memberConfig({
      scope, name, dirName, root, pgPort, apiPort, timing,
      dcs: { kind: dcsKind, endpoints, settings: options.dcsSettings ?? {} },
      ...(options.dynamic ? { dynamic: options.dynamic } : {}),
      ...(tags ? { tags } : {}),
      ...(options.postgresql ? { postgresql: options.postgresql } : {}),
      ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}),
      ...(options.connectPorts?.[i] ? { connectPorts: options.connectPorts[i] } : {}),
      ...(restapiTls || Object.keys(restapiExtra).length > 0 ? { restapi: { ...restapiTls, ...restapiExtra } } : {}),
      ...(ctlTls ? { ctl: ctlTls } : {}),
      ...(watchdog ? { watchdog: { mode: 'required', driver: 'testing', device: watchdog.fifo, ...(margin !== undefined ? { safety_margin: margin } : {}) } } : {}),
    });
    writeFileSync(configPath, toYaml({ ...config, ...options.extra?.[i] }));
    chownSync(configPath, ids.uid, ids.gid);
    const member = makeMember({ name, index: i, pgPort, apiPort, dir, configPath, kind: memberKind, ids, useDist, echo: options.echo ?? false, watchdog, env: options.agentEnv?.[i] ?? {}, tls, ...(apiAuth ? { apiAuth } : {}) });
    members.push(member);
    return member;
  };
  for (let i = 0; i < count; i++) createMember(i, ports[2 * i]!, ports[2 * i + 1]!, options.tags?.[i]);
  for (const m of members) m.start();

  const cluster: LocalCluster = {
    scope,
    root,
    members,
    timing,
    tls,
    dcs: {
      kind: dcsKind,
      endpoints,
      settings: options.dcsSettings ?? {},
      freeze: () => serverIndexes.forEach((i) => dcsServer.freeze(i)),
      thaw: () => serverIndexes.forEach((i) => dcsServer.thaw(i)),
      stop: async (options?: { kill?: boolean }) => void (await Promise.all(serverIndexes.map((i) => dcsServer.stopMember(i, options)))),
      // A lone etcd server of three waits for a quorum to answer healthy: start them together.
      start: async () => void (await Promise.all(serverIndexes.map((i) => dcsServer.startMember(i)))),
      servers,
    },
    waitForPrimary: (timeoutMs, exclude) => waitForPrimaryOf(members, timeoutMs, exclude),
    async addMember(tags?: Record<string, unknown>, addOptions?: { name?: string }) {
      const [pgPort, apiPort] = await freePorts(2);
      const member = createMember(members.length, pgPort!, apiPort!, tags, addOptions?.name);
      member.start();
      return member;
    },
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
      // A postmaster left behind by a killed agent.
      for (const m of members) m.killPostmaster();
      for (const m of members) m.watchdog?.stop();
      await dcsServer.stop();
      await temp?.remove();
    },
  };
  return cluster;
}

/** Per-server controls of the cluster's DCS. */
export function dcsServers(server: EtcdCluster | ZooKeeperEnsemble, count: number, endpoints: string[]): DcsServers {
  const etcd = 'etcdctl' in server ? server : null;
  return {
    count,
    ports: endpoints.map((e) => Number(new URL(e.includes('://') ? e : `tcp://${e}`).port)),
    stop: (i, options) => server.stopMember(i, options),
    start: (i) => server.startMember(i),
    freeze: (i) => server.freeze(i),
    thaw: (i) => server.thaw(i),
    running: (i) => server.members[i]?.process !== null,
    async leader() {
      if (!etcd) return (server as ZooKeeperEnsemble).leaderIndex();
      return etcdLeader(etcd);
    },
    ...(etcd ? { etcdctl: (args: string[]) => etcd.etcdctl(args) } : {}),
  };
}

/** etcd's id of the server at `endpoint` in hex, as `etcdctl move-leader` takes it. */
async function etcdMemberId(etcdctl: (args: string[]) => Promise<string>, endpoint: string): Promise<string> {
  const out = await etcdctl([`--endpoints=${endpoint}`, 'endpoint', 'status', '-w', 'json']);
  const id = /"member_id":(\d+)/.exec(out)?.[1];
  if (id === undefined) throw new Error(`no member id in the status of ${endpoint}: ${out.slice(0, 200)}`);
  return BigInt(id).toString(16);
}

/**
 * Moves the DCS's leadership to another server: on etcd with `etcdctl move-leader` (every server
 * keeps running; etcd resets lease TTLs on a leader change), on ZooKeeper by SIGKILL of the
 * leading server, which is started again once another leads (sessions move to the survivors).
 * Resolves with the old and the new leader's index.
 */
export async function changeDcsLeader(servers: DcsServers, timeoutMs = 60_000): Promise<{ from: number; to: number }> {
  if (servers.count < 3) throw new Error('a leader change needs a DCS of 3 servers (dcsServers: 3)');
  const from = await servers.leader();
  if (from < 0) throw new Error('the DCS has no leader');
  let to = -1;
  if (servers.etcdctl) {
    const target = (from + 1) % servers.count;
    const endpoints = servers.ports.map((p) => `http://127.0.0.1:${p}`);
    await servers.etcdctl([`--endpoints=${endpoints.join(',')}`, 'move-leader', await etcdMemberId(servers.etcdctl, endpoints[target]!)]);
    await waitFor('the etcd leader to move', async () => (to = await servers.leader()) === target, timeoutMs, 100);
  } else {
    await servers.stop(from, { kill: true });
    try {
      await waitFor('a new ZooKeeper leader', async () => (to = await servers.leader()) >= 0 && to !== from, timeoutMs, 100);
    } finally {
      await servers.start(from);
    }
  }
  return { from, to };
}

/** The index of etcd's raft leader, from `endpoint status` of the running servers; -1 if none answers. */
export async function etcdLeader(etcd: EtcdCluster): Promise<number> {
  const running = etcd.members.map((m, i) => ({ m, i })).filter(({ m }) => m.process !== null);
  for (const { m, i } of running) {
    const out = await etcd.etcdctl([`--endpoints=${m.clientUrl}`, 'endpoint', 'status', '-w', 'json']).catch(() => null);
    if (out === null) continue;
    // Member ids are 64-bit: read as text, JSON.parse would round them.
    const id = /"member_id":(\d+)/.exec(out)?.[1];
    const leader = /"leader":(\d+)/.exec(out)?.[1];
    if (id !== undefined && id === leader) return i;
  }
  return -1;
}

/**
 * A private CA, member and client certificates under `root/certs`, readable by the agents (they
 * run as `postgres`; the keys stay 0600).
 */
async function makeClusterTls(root: string, ids: { uid: number; gid: number }): Promise<ClusterTls> {
  const dir = join(root, 'certs');
  mkdirSync(dir, { recursive: true });
  const certificates = await makeTestCertificates(dir);
  chownSync(dir, ids.uid, ids.gid);
  for (const f of readdirSync(dir)) {
    chownSync(join(dir, f), ids.uid, ids.gid);
    if (f.endsWith('-key.pem') || f.includes('key-')) chmodSync(join(dir, f), 0o600);
  }
  return {
    certificates,
    ca: readFileSync(certificates.caFile),
    cert: readFileSync(certificates.clientCertFile),
    key: readFileSync(certificates.clientKeyFile),
  };
}
