/**
 * The chaos target of the namespace mode (`--network namespaces`): a 3-member cluster whose
 * members are hosts (tools/cluster's startHostCluster), the DCS a 3-server etcd or ZooKeeper on
 * the members' hosts. Besides the faults every target has, it can crash a whole host (a member and
 * the DCS server on it), cut links one way, cut a primary from one replica only and slow links.
 */
import { startHostCluster, type AgentKind, type ClusterTiming, type DcsKind, type HostCluster, type MemberHandle } from '@pgha/local-cluster';
import { MAXIMUM_LAG_ON_FAILOVER, modeConfig } from './local-target.js';
import type { ChaosMember, ChaosTarget, FaultActions, ReplicationMode } from './target.js';

export interface HostTargetOptions {
  dcs: DcsKind;
  agent: AgentKind;
  mode: ReplicationMode;
  timing: ClusterTiming;
  echo: boolean;
}

export async function startHostTarget(options: HostTargetOptions): Promise<ChaosTarget> {
  const cluster: HostCluster = await startHostCluster({
    members: 3,
    agent: options.agent,
    dcs: options.dcs,
    dcsServers: 3,
    scope: 'chaos',
    timing: options.timing,
    echo: options.echo,
    dynamic: { maximum_lag_on_failover: MAXIMUM_LAG_ON_FAILOVER, ...modeConfig(options.mode) },
  });
  try {
    const c = cluster;
    const members: ChaosMember[] = c.members.map((m) => ({ name: m.name, apiUrl: m.apiUrl, pg: c.pgTarget(m).pg }));
    const handle = (m: ChaosMember): MemberHandle => c.members.find((h) => h.name === m.name)!;
    const host = (m: ChaosMember) => c.hostOf(handle(m));
    const others = (m: ChaosMember) => c.members.filter((h) => h.name !== m.name).map((h) => c.hostOf(h));
    const crashed = new Set<string>();
    const actions: Partial<FaultActions> = {
      killAgent: (m) => handle(m).killAgent(),
      startAgent: async (m) => handle(m).start(),
      async killPostmaster(m) {
        if (!handle(m).killPostmaster()) throw new Error(`no postmaster found for ${m.name}`);
      },
      stopAgent: async (m) => handle(m).freezeAgent(),
      contAgent: async (m) => handle(m).thawAgent(),
      // Server 0: one of three, so these are one-server faults here (the quorum stays).
      freezeDcs: async () => c.dcs.freeze(),
      thawDcs: async () => c.dcs.thaw(),
      killDcs: () => c.dcs.stop({ kill: true }),
      startDcs: () => c.dcs.start(),
      cutDcs: async (m) => c.cuts.cutPaths(host(m), c.dcsLinkPorts(handle(m))),
      cutDcsOut: async (m) => c.cuts.cutPaths(host(m), c.dcsLinkPorts(handle(m)), 'out'),
      healDcs: async () => c.cuts.healAll(),
      async cutPeers(m) {
        for (const h of others(m)) c.cuts.cut(host(m), h);
      },
      async healPeers(m) {
        for (const h of others(m)) c.cuts.heal(host(m), h);
      },
      cutLink: async (a, b) => c.cuts.cut(host(a), host(b)),
      healLink: async (a, b) => c.cuts.heal(host(a), host(b)),
      slowDcs: async (m, shape) => c.slowDcsLink(handle(m), shape),
      slowPeer: async (m, shape) => c.slowPeerLink(handle(m), shape),
      clearLinks: async () => c.clearLinks(),
      async crashHost(m) {
        crashed.add(m.name);
        await c.crashHost(host(m));
      },
      async restartHost(m) {
        crashed.delete(m.name);
        await c.restartHost(host(m));
      },
      async moveDcsLeaderTo(m) {
        if (options.dcs === 'etcd') await c.moveDcsLeader(c.dcsServerOn(host(m)));
      },
    };
    return {
      description: `hosts (network namespaces ${c.network.subnet}): ${options.agent} on a 3-server ${options.dcs}`,
      members,
      mode: options.mode,
      timing: c.timing,
      maximumLagOnFailover: MAXIMUM_LAG_ON_FAILOVER,
      actions,
      async restartStopped() {
        for (const name of crashed) await c.restartHost(c.hostOf(name));
        crashed.clear();
        for (const m of c.members) m.start();
      },
      close: () => c.stop(),
    };
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}
