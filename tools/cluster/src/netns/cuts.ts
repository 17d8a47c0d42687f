/**
 * Network cuts between hosts, done with nftables inside the hosts' namespaces the way a
 * firewall or a broken switch port does them on real machines: packets are dropped (not
 * rejected), so peers see timeouts, not refused connections.
 *
 * A cut is one-way (`from`'s packets never reach `to`); a two-way cut is two of them. Paths
 * through the harness's link proxies (which run in the root namespace, at the gateway address)
 * are cut too: `from`'s packets to a proxy in front of `to`, and the bytes of `from` that a
 * proxy in front of `from` relays to `to`. The harness's own traffic (API calls, probes, from
 * the gateway but not through a proxy) is never cut.
 */
import type { Host, HostNetwork } from './network.js';

/** A proxy on a path: `client` (null: any host) reaches `target` through `gateway:port`. */
export interface ProxiedPath {
  client: Host | null;
  target: Host;
  port: number;
}

export interface Cut {
  from: Host;
  to: Host;
}

/**
 * A cut of some of a host's paths through the proxies only, e.g. its agent's DCS links while its
 * PostgreSQL and its co-located DCS server stay reachable: `out` drops what the host sends
 * into those proxies, `in` what comes back out of them.
 */
export interface PathCut {
  host: Host;
  ports: readonly number[];
  direction: 'in' | 'out';
}

export interface NetworkCuts {
  /** `from`'s packets to `to` are dropped (both ways unless `oneWay`). */
  cut(a: Host, b: Host, options?: { oneWay?: boolean }): void;
  /**
   * Splits the hosts into `sides`: every host is cut both ways from every host of another side
   * (what a broken switch between two racks does); hosts named on no side are left alone.
   */
  partition(...sides: readonly (readonly Host[])[]): void;
  /** Cuts the given proxied paths of `host` (both directions unless `direction`). */
  cutPaths(host: Host, ports: readonly number[], direction?: 'in' | 'out'): void;
  /** Removes the cuts between `a` and `b` (both directions). */
  heal(a: Host, b: Host): void;
  healAll(): void;
  readonly cuts: readonly Cut[];
  readonly pathCuts: readonly PathCut[];
}

const serves = (p: ProxiedPath, client: Host, target: Host) => p.target === target && (p.client === null || p.client === client);

/** The nft script that holds every cut touching `host`; replaces the host's table atomically. */
export function hostRules(host: Host, cuts: readonly Cut[], paths: readonly ProxiedPath[], gateway: string, pathCuts: readonly PathCut[] = []): string {
  const output: string[] = [];
  const input: string[] = [];
  for (const c of pathCuts) {
    if (c.host !== host) continue;
    for (const port of c.ports) {
      if (c.direction === 'out') output.push(`ip daddr ${gateway} tcp dport ${port} drop`);
      else input.push(`ip saddr ${gateway} tcp sport ${port} drop`);
    }
  }
  for (const { from, to } of cuts) {
    if (from === host) {
      output.push(`ip daddr ${to.address} drop`);
      for (const p of paths) if (serves(p, from, to)) output.push(`ip daddr ${gateway} tcp dport ${p.port} drop`);
    }
    if (to === host) {
      input.push(`ip saddr ${from.address} drop`);
      for (const p of paths) if (serves(p, to, from)) input.push(`ip saddr ${gateway} tcp sport ${p.port} drop`);
    }
  }
  // Creating then deleting the table first makes the script work whether or not it exists.
  return [
    'table inet pgha {}',
    'delete table inet pgha',
    'table inet pgha {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    ...input.map((r) => `    ${r}`),
    '  }',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    ...output.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The one-way cuts of a partition into `sides`: both directions between hosts of different sides. */
export function partitionCuts(sides: readonly (readonly Host[])[]): Cut[] {
  const seen = new Set<Host>();
  for (const side of sides) {
    for (const h of side) {
      if (seen.has(h)) throw new Error(`partition: ${h.ns} is on two sides`);
      seen.add(h);
    }
  }
  const out: Cut[] = [];
  sides.forEach((side, i) => sides.forEach((other, j) => {
    if (i !== j) for (const from of side) for (const to of other) out.push({ from, to });
  }));
  return out;
}

export function networkCuts(network: HostNetwork, paths: () => readonly ProxiedPath[]): NetworkCuts {
  let cuts: Cut[] = [];
  let pathCuts: PathCut[] = [];
  const apply = (touched: Set<Host>) => {
    for (const h of touched) network.nft(h, hostRules(h, cuts, paths(), network.gateway, pathCuts));
  };
  return {
    cut(a, b, options = {}) {
      if (a === b) throw new Error(`cut: ${a.ns} to itself`);
      const add = (from: Host, to: Host) => {
        if (!cuts.some((c) => c.from === from && c.to === to)) cuts.push({ from, to });
      };
      add(a, b);
      if (!options.oneWay) add(b, a);
      apply(new Set([a, b]));
    },
    partition(...sides) {
      for (const c of partitionCuts(sides)) if (!cuts.some((x) => x.from === c.from && x.to === c.to)) cuts.push(c);
      apply(new Set(sides.flat()));
    },
    cutPaths(host, ports, direction) {
      for (const d of direction ? [direction] : (['in', 'out'] as const)) pathCuts.push({ host, ports, direction: d });
      apply(new Set([host]));
    },
    heal(a, b) {
      cuts = cuts.filter((c) => !((c.from === a && c.to === b) || (c.from === b && c.to === a)));
      apply(new Set([a, b]));
    },
    healAll() {
      const touched = new Set([...cuts.flatMap((c) => [c.from, c.to]), ...pathCuts.map((c) => c.host)]);
      cuts = [];
      pathCuts = [];
      apply(touched);
    },
    get cuts() {
      return cuts;
    },
    get pathCuts() {
      return pathCuts;
    },
  };
}
