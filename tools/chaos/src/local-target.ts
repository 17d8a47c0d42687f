/**
 * A local 3-member cluster set up for faults: every member reaches the DCS through its own TCP
 * proxy, and peers reach a member's PostgreSQL and REST API only through proxies in front of them
 * (the member's connect addresses name the proxies; the writer and probers connect to the real
 * ports, as clients on the member's host would). With clock faults, each agent runs under
 * libfaketime with an offset read from a file of its own.
 *
 * Cutting member A off from its peers: A's own PostgreSQL and API proxies hold every connection
 * (no peer reaches A), and the proxies of every other member hold the connections A opened (A
 * reaches no peer). Those proxies are shared by all peers, so they tell A's connections apart by
 * the process that opened them (socket-owner.ts); connections of the other members keep flowing.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeDcsLeader, openDcsDriver, startLocalCluster, SUPERUSER, type AgentKind, type ClusterTiming, type DcsDriver, type DcsKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { startProxy, type TcpProxy } from './proxy.js';
import { createSocketOwner } from './socket-owner.js';
import type { ChaosMember, ChaosTarget, FaultActions, ReplicationMode } from './target.js';

export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
export const MAXIMUM_LAG_ON_FAILOVER = 1048576;

export interface LocalTargetOptions {
  dcs: DcsKind;
  /** Servers of the DCS (3: an etcd cluster or ZooKeeper ensemble, for the DCS-cluster faults). */
  dcsServers: 1 | 3;
  agent: AgentKind;
  /** pg1 runs the other agent (a mixed cluster). */
  mixed: boolean;
  mode: ReplicationMode;
  timing: ClusterTiming;
  watchdog: boolean;
  /** Run each agent under libfaketime (needed by the clock faults). */
  fakeTime: boolean;
  echo: boolean;
}

/** The dynamic configuration of a replication mode. */
export function modeConfig(mode: ReplicationMode): Record<string, unknown> {
  switch (mode) {
    case 'async':
      return {};
    case 'on':
      return { synchronous_mode: true };
    case 'strict':
      return { synchronous_mode: true, synchronous_mode_strict: true };
    case 'quorum':
      return { synchronous_mode: 'quorum' };
  }
}

interface MemberProxies {
  /** One per DCS server. */
  dcs: TcpProxy[];
  pg: TcpProxy;
  api: TcpProxy;
}

export async function startLocalTarget(options: LocalTargetOptions): Promise<ChaosTarget> {
  const count = 3;
  const other: AgentKind = options.agent === 'pgha' ? 'patroni' : 'pgha';
  const agentOf = (i: number): AgentKind => (options.mixed && i === 1 ? other : options.agent);
  // A missing library only makes ld.so warn: the clock faults would silently do nothing.
  if (options.fakeTime && !existsSync(LIBFAKETIME)) throw new Error(`the clock faults need libfaketime (${LIBFAKETIME}): apt-get install faketime`);
  // Filled once the cluster's directory is known; identification happens at connection time.
  const dirs = new Map<string, string>();
  const proxies: MemberProxies[] = [];
  // One for all proxies: the owners it remembers (each member's agent) open most connections.
  const ownerOf = createSocketOwner(dirs);
  const startProxies = async (): Promise<MemberProxies> => {
    const pgProxy: TcpProxy = await startProxy({ identify: (c) => ownerOf(c, pgProxy.port) });
    const apiProxy: TcpProxy = await startProxy({ identify: (c) => ownerOf(c, apiProxy.port) });
    const dcs: TcpProxy[] = [];
    for (let s = 0; s < options.dcsServers; s++) dcs.push(await startProxy());
    return { dcs, pg: pgProxy, api: apiProxy };
  };
  for (let i = 0; i < count; i++) proxies.push(await startProxies());

  // The offset files: readable by the agents (they run as postgres).
  const clockDir = options.fakeTime ? mkdtempSync(join(tmpdir(), 'chaos-clock-')) : null;
  if (clockDir) chmodSync(clockDir, 0o755);
  const clockFile = (i: number) => join(clockDir!, `pg${i}.offset`);
  const writeOffset = (i: number, offsetS: number) => {
    writeFileSync(clockFile(i), `${offsetS >= 0 ? '+' : ''}${offsetS}\n`, { mode: 0o644 });
  };

  let cluster: LocalCluster | null = null;
  const closeAll = async () => {
    await cluster?.stop();
    await Promise.all(proxies.flatMap((p) => [...p.dcs.map((d) => d.close()), p.pg.close(), p.api.close()]));
    if (clockDir) rmSync(clockDir, { recursive: true, force: true });
  };
  try {
    const agentEnv: Record<number, Record<string, string>> = {};
    if (clockDir) {
      for (let i = 0; i < count; i++) {
        writeOffset(i, 0);
        agentEnv[i] = {
          LD_PRELOAD: LIBFAKETIME,
          FAKETIME_TIMESTAMP_FILE: clockFile(i),
          // Read the file on every call, so a change takes effect at once.
          FAKETIME_NO_CACHE: '1',
          // Only the wall clock jumps, as with a stepped system clock; monotonic time runs on.
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
          // Only the agent: PostgreSQL keeps the true time, so the probers' server timestamps of
          // all members stay comparable (see docs/chaos.md).
          FAKETIME_ONLY_CMDS: agentOf(i) === 'pgha' ? 'node' : 'patroni,python3',
        };
      }
    }
    cluster = await startLocalCluster({
      members: count,
      agent: options.agent,
      ...(options.mixed ? { agents: { 1: other } } : {}),
      dcs: options.dcs,
      dcsServers: options.dcsServers,
      scope: 'chaos',
      timing: options.timing,
      echo: options.echo,
      // Patroni's default safety margin (5 s) leaves no watchdog timeout under a short ttl (the
      // fast profile's 4 s): there, ttl / 2, as `safety_margin: -1` gives.
      watchdog: options.watchdog && options.timing.ttl < 10 ? { safetyMargin: -1 } : options.watchdog,
      dynamic: { maximum_lag_on_failover: MAXIMUM_LAG_ON_FAILOVER, ...modeConfig(options.mode) },
      extra: Object.fromEntries(proxies.map((p, i) => [i, dcsSection(options.dcs, p.dcs.map((d) => d.port))])),
      connectPorts: Object.fromEntries(proxies.map((p, i) => [i, { pg: p.pg.port, api: p.api.port }])),
      agentEnv,
    });
    const c = cluster;
    const servers = c.dcs.servers;
    for (const [i, m] of c.members.entries()) {
      dirs.set(m.name, join(c.root, m.name));
      proxies[i]!.dcs.forEach((d, s) => d.setTarget(servers.ports[s]!));
      proxies[i]!.pg.setTarget(m.pgPort);
      proxies[i]!.api.setTarget(m.apiPort);
    }

    const members: ChaosMember[] = c.members.map((m) => ({
      name: m.name,
      apiUrl: m.apiUrl,
      pg: { host: '127.0.0.1', port: m.pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres' },
    }));
    const handle = (m: ChaosMember): MemberHandle => c.members.find((h) => h.name === m.name)!;
    // A driver of the harness's own (never a member's name) for raw key reads and writes.
    let driver: Promise<DcsDriver> | null = null;
    const dcsDriver = (): Promise<DcsDriver> => (driver ??= openDcsDriver(c, 'chaos-operator'));
    const index = (m: ChaosMember): number => handle(m).index;
    const actions: Partial<FaultActions> = {
      killAgent: (m) => handle(m).killAgent(),
      startAgent: async (m) => handle(m).start(),
      async killPostmaster(m) {
        if (!handle(m).killPostmaster()) throw new Error(`no postmaster found for ${m.name}`);
      },
      stopAgent: async (m) => handle(m).freezeAgent(),
      contAgent: async (m) => handle(m).thawAgent(),
      freezeDcs: async () => c.dcs.freeze(),
      thawDcs: async () => c.dcs.thaw(),
      killDcs: () => c.dcs.stop({ kill: true }),
      startDcs: () => c.dcs.start(),
      cutDcs: async (m) => proxies[index(m)]!.dcs.forEach((d) => d.partition()),
      healDcs: async (m) => proxies[index(m)]!.dcs.forEach((d) => d.heal()),
      async cutPeers(m) {
        const own = proxies[index(m)]!;
        own.pg.partition();
        own.api.partition();
        for (const [i, p] of proxies.entries()) {
          if (i === index(m)) continue;
          p.pg.block(m.name);
          p.api.block(m.name);
        }
      },
      async healPeers(m) {
        for (const [i, p] of proxies.entries()) {
          if (i === index(m)) continue;
          p.pg.unblock(m.name);
          p.api.unblock(m.name);
        }
        const own = proxies[index(m)]!;
        own.pg.heal();
        own.api.heal();
      },
      async setClockOffset(m, offsetS) {
        writeOffset(index(m), offsetS);
      },
      async startDuplicate(m, timeoutMs) {
        const duplicate = await c.addMember(undefined, { name: m.name });
        try {
          const exited = duplicate.agent?.exited ?? Promise.resolve(null);
          const exitCode = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), timeoutMs))]);
          return { exitCode, output: duplicate.output() };
        } finally {
          await duplicate.stop();
          // Not a member: the harness must never start it again.
          c.members.splice(c.members.indexOf(duplicate), 1);
        }
      },
      freezePostgres: async (m) => {
        if (handle(m).freezePostgres() === 0) throw new Error(`no postmaster found for ${m.name}`);
      },
      thawPostgres: async (m) => handle(m).thawPostgres(),
      async changeDcsLeader() {
        const { from, to } = await changeDcsLeader(servers);
        return `DCS leader moved from server ${from} to server ${to}`;
      },
      async stopDcsServers(n) {
        const leader = await servers.leader();
        const order = [...Array(servers.count).keys()].filter((i) => servers.running(i)).sort((a, b) => Number(a === leader) - Number(b === leader));
        const down = order.slice(0, n);
        for (const i of down) await servers.stop(i, { kill: true });
        return down;
      },
      async startDcsServers(down) {
        await Promise.all(down.map((i) => servers.start(i)));
      },
      async compactDcs() {
        const status = await servers.etcdctl!(['endpoint', 'status', '-w', 'json']);
        const revisions = [...status.matchAll(/"revision":(\d+)/g)].map((r) => Number(r[1]));
        const revision = Math.min(...revisions);
        await servers.etcdctl!(['compact', String(revision)]);
        return revision;
      },
      async churnDcs(n) {
        for (let k = 0; k < n; k++) await servers.etcdctl!(['put', '/chaos-churn', String(k)]);
      },
      async expireDcsSession(m, timeoutMs) {
        const t0 = Date.now();
        const own = proxies[index(m)]!.dcs;
        own.forEach((d) => d.partition());
        try {
          while ((await actions.readDcsKey!(`members/${m.name}`)) !== null) {
            if (Date.now() - t0 > timeoutMs) throw new Error(`${m.name}'s session did not expire within ${timeoutMs / 1000} s`);
            await new Promise((r) => setTimeout(r, 250));
          }
          return Date.now() - t0;
        } finally {
          own.forEach((d) => d.heal());
        }
      },
      async readDcsKey(key) {
        return (await dcsDriver()).load().then((raw) => raw.nodes.get(key)?.value ?? null);
      },
      async writeDcsKey(key, value) {
        if (!(await (await dcsDriver()).write(key, value, { kind: 'any' }))) throw new Error(`could not write the ${key} key`);
      },
    };
    const partial = actions as Partial<FaultActions>;
    if (!clockDir) delete partial.setClockOffset;
    if (servers.count < 3) {
      delete partial.changeDcsLeader;
      delete partial.stopDcsServers;
    }
    if (!servers.etcdctl) {
      delete partial.compactDcs;
      delete partial.churnDcs;
    }
    if (options.dcs !== 'zookeeper') delete partial.expireDcsSession;
    return {
      description: `local cluster: ${options.mixed ? `${options.agent} with ${other} as pg1` : options.agent} on ${options.dcs}${servers.count > 1 ? ` (${servers.count} servers)` : ''}`,
      members,
      mode: options.mode,
      timing: c.timing,
      maximumLagOnFailover: MAXIMUM_LAG_ON_FAILOVER,
      actions,
      async restartStopped() {
        for (const m of c.members) m.start();
      },
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** The member's DCS section, pointing at its proxies (one per DCS server). */
function dcsSection(dcs: DcsKind, ports: number[]): Record<string, unknown> {
  const hosts = ports.map((p) => `127.0.0.1:${p}`);
  if (dcs === 'zookeeper') return { zookeeper: { hosts } };
  // Patroni asks etcd for its members' addresses and would go around the proxy unless told the
  // host is a proxy; pgha uses the listed hosts only, so the key changes nothing for it and one
  // YAML serves both agents (a mixed cluster, docs/migration.md).
  return { etcd3: { hosts, use_proxies: true } };
}
