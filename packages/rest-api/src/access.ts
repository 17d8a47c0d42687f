/**
 * Access control for unsafe methods, in Patroni's order: allowlist (403 `Access is denied`),
 * client certificate when `verify_client` asks for one (403 `client certificate required`), then
 * HTTP Basic authentication (401). GETs stay open, as in Patroni.
 */
import { timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Cluster } from '@pgha/dcs';

export interface AccessOptions {
  authentication?: { username: string; password: string };
  /** `restapi.allowlist`: IPs, CIDR ranges or host names (resolved by the caller). */
  allowlist?: string[];
  /** `restapi.allowlist_include_members`: the hosts in members' api_url / conn_url are allowed too. */
  allowlistIncludeMembers?: boolean;
  /** `restapi.verify_client`: `none`, `optional` or `required`. */
  verifyClient?: 'none' | 'optional' | 'required';
}

export type Denial = { status: 401 | 403; text: string; headers?: Record<string, string> };

/** Strips the IPv4-mapped prefix node reports for IPv4 peers on dual-stack sockets. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Builds a BlockList (used as an allow list) from IPs and CIDRs; names that are neither are returned apart. */
export function buildAllowList(entries: string[]): { list: BlockList; unresolved: string[] } {
  const list = new BlockList();
  const unresolved: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(addr);
    if (family === 0) {
      unresolved.push(entry);
      continue;
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits !== undefined && /^\d+$/.test(bits)) list.addSubnet(addr, Number(bits), type);
    else list.addAddress(addr, type);
  }
  return { list, unresolved };
}

function matches(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The hosts of the members' api_url and conn_url: IP literals and names (see member-hosts.ts). */
export function memberHosts(cluster: Cluster | null): string[] {
  const hosts: string[] = [];
  for (const m of cluster?.members ?? []) {
    for (const url of [m.data.api_url, m.data.conn_url]) {
      if (!url) continue;
      try {
        hosts.push(new URL(url).hostname.replace(/^\[|\]$/g, ''));
      } catch {
        // A malformed URL in a member key allows nobody.
      }
    }
  }
  return hosts;
}

export interface AccessCheck {
  /** Null when the request may proceed, else the answer to send. */
  check(peer: { address: string; authorized: boolean; hasCertificate: boolean }, authorization: string | undefined, cluster: Cluster | null): Denial | null;
}

/** The addresses found for host names (member-hosts.ts), as the access check reads them. */
export interface ResolvedNames {
  addresses(host: string): readonly string[];
  /** Changes whenever some name's addresses do. */
  generation(): number;
}

const NO_NAMES: ResolvedNames = { addresses: () => [], generation: () => 0 };

/** The host names among `restapi.allowlist`'s entries (the rest are IPs and CIDR ranges). */
export function allowlistNames(allowlist: readonly string[] | undefined): string[] {
  return allowlist && allowlist.length > 0 ? buildAllowList([...allowlist]).unresolved : [];
}

/**
 * `names.members` resolves the host names in member keys, `names.allowlist` those written in
 * `restapi.allowlist`: both are looked up ahead and again as they fall due (member-hosts.ts).
 */
export function createAccessCheck(options: AccessOptions, names: { members?: ResolvedNames; allowlist?: ResolvedNames } = {}): AccessCheck {
  const allowlist = options.allowlist && options.allowlist.length > 0 ? buildAllowList(options.allowlist) : null;
  const memberNames = names.members ?? NO_NAMES;
  const listNames = names.allowlist ?? NO_NAMES;
  const auth = options.authentication;
  const expected = auth ? Buffer.from(`Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`) : null;
  let memberCache: { cluster: Cluster | null; generation: number; list: BlockList } | null = null;

  const memberList = (cluster: Cluster | null): BlockList => {
    const generation = memberNames.generation();
    if (memberCache?.cluster === cluster && memberCache.generation === generation) return memberCache.list;
    const ips = memberHosts(cluster).flatMap((h) => (isIP(h) !== 0 ? [h] : memberNames.addresses(h)));
    const { list } = buildAllowList(ips);
    memberCache = { cluster, generation, list };
    return list;
  };
  const namedInAllowlist = (address: string) => allowlist !== null && allowlist.unresolved.some((name) => listNames.addresses(name).includes(address));

  return {
    check(peer, authorization, cluster) {
      const address = normaliseAddress(peer.address);
      if (allowlist || options.allowlistIncludeMembers) {
        const allowed =
          (allowlist !== null && (matches(allowlist.list, address) || namedInAllowlist(address))) ||
          (options.allowlistIncludeMembers === true && matches(memberList(cluster), address));
        if (!allowed) return { status: 403, text: 'Access is denied' };
      }
      const verify = options.verifyClient ?? 'none';
      if (verify !== 'none' && !(peer.hasCertificate && peer.authorized)) return { status: 403, text: 'client certificate required' };
      if (expected) {
        const challenge = { 'WWW-Authenticate': 'Basic realm="Patroni"' };
        if (!authorization) return { status: 401, text: 'no auth header received', headers: challenge };
        const given = Buffer.from(authorization);
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: 401, text: 'not authenticated', headers: challenge };
      }
      return null;
    },
  };
}
