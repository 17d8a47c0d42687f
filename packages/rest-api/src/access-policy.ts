/**
 * Who may call the unsafe endpoints, as one replaceable value: the access check of the current
 * `restapi` settings with the host names it needs looked up. The server holds one and swaps it
 * whole when a reload changes the settings, so a request is checked against either the old or
 * the new rules, never a mix.
 */
import { isIP } from 'node:net';
import type { Cluster } from '@pgha/dcs';
import { allowlistNames, createAccessCheck, memberHosts, type AccessOptions, type Denial } from './access.js';
import { createMemberHosts, type MemberHosts, type MemberHostsOptions } from './member-hosts.js';

export const OPEN_API_WARNING =
  'the REST API management endpoints (switchover, failover, restart, reinitialize, PATCH /config) are open to anyone who can reach this port: set restapi.authentication, restapi.allowlist or restapi.verify_client';

export interface AccessPolicyDeps {
  /** Addresses of a host name. */
  lookup: (host: string) => Promise<string[]>;
  now(): number;
  warn(message: string): void;
  info(message: string): void;
  /** Deadlines and refresh intervals of the lookups (member-hosts.ts). */
  names?: Pick<MemberHostsOptions, 'timeoutMs' | 'refreshMs' | 'retryMs' | 'maxNames' | 'maxParallel'>;
}

export interface Peer {
  address: string;
  authorized: boolean;
  hasCertificate: boolean;
}

export interface AccessPolicy {
  /** Null when the request may proceed, else the answer to send. */
  check(peer: Peer, authorization: string | undefined, cluster: Cluster | null): Promise<Denial | null>;
  /** Looks up the names of `cluster`'s members and of the allowlist that are new or due again. */
  track(cluster: Cluster | null): Promise<void>;
  /** Anyone who reaches the port may use the unsafe endpoints (Patroni's default). */
  readonly openToAnyone: boolean;
  readonly options: AccessOptions;
}

export function createAccessPolicy(options: AccessOptions, deps: AccessPolicyDeps): AccessPolicy {
  const resolver = (setting: string, kind: string): MemberHosts =>
    createMemberHosts({ lookup: deps.lookup, now: deps.now, warn: deps.warn, info: deps.info, setting, kind, ...deps.names });
  const listed = allowlistNames(options.allowlist);
  const allowlist = listed.length > 0 ? resolver('restapi.allowlist', 'host') : null;
  const members = options.allowlistIncludeMembers ? resolver('restapi.allowlist_include_members', 'member host') : null;
  const access = createAccessCheck(options, { ...(members ? { members } : {}), ...(allowlist ? { allowlist } : {}) });
  const memberNames = (cluster: Cluster | null) => memberHosts(cluster).filter((h) => isIP(h) === 0);

  const track = async (cluster: Cluster | null) => {
    await Promise.all([allowlist?.track(listed), members?.track(memberNames(cluster))]);
  };
  return {
    options,
    openToAnyone:
      !options.authentication && !(options.allowlist && options.allowlist.length > 0) && !options.allowlistIncludeMembers && (options.verifyClient ?? 'none') === 'none',
    track,
    async check(peer, authorization, cluster) {
      const denial = access.check(peer, authorization, cluster);
      if (denial?.text !== 'Access is denied' || (!allowlist && !members)) return denial;
      // A member that just joined, or a name being looked up again: wait for that lookup (it
      // has a deadline) before refusing.
      await track(cluster);
      return access.check(peer, authorization, cluster);
    },
  };
}
