/**
 * Patroni's key layout. Everything of a cluster lives under `/<namespace>/<scope>/`; the names
 * below are relative to that prefix. Namespace defaults to `/service`; repeated slashes collapse.
 */

export const KEY = {
  initialize: 'initialize',
  config: 'config',
  leader: 'leader',
  failover: 'failover',
  sync: 'sync',
  history: 'history',
  status: 'status',
  failsafe: 'failsafe',
  /** Legacy (pre-2.1) place of the leader's WAL position; read as a fallback for `status`. */
  legacyOptime: 'optime/leader',
} as const;

/** Directory of the member keys. */
export const MEMBERS_DIR = 'members/';

export const DEFAULT_NAMESPACE = '/service';

/** `members/<name>` */
export function memberKey(name: string): string {
  return `${MEMBERS_DIR}${name}`;
}

/** The absolute prefix of a cluster, always with a leading and a trailing slash. */
export function clusterPrefix(namespace: string, scope: string): string {
  return `/${namespace}/${scope}/`.replace(/\/{2,}/g, '/');
}
