/**
 * A reload's new `zookeeper:` section against the running one. `hosts` can change in place:
 * a session lives in the ensemble, not in a connection, so the handle is given the new list
 * (`zoo_set_servers`) and carries the same session — its ephemerals (member key, leader lock) and
 * watches — to a member of the new list, as on any reconnect. The chroot, the credentials
 * (added to the session when it connected) and the ACLs (set on znodes as they are created) take
 * a restart, said by key.
 */
import type { ZooKeeperSettings } from './config.js';

export interface HostChange {
  /** The new hosts when they differ, else null. */
  hosts: string[] | null;
  restartRequired: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function planHostChange(current: ZooKeeperSettings, next: ZooKeeperSettings): HostChange {
  const restartRequired: string[] = [];
  if (current.chroot !== next.chroot) restartRequired.push('zookeeper.hosts chroot: the session\'s paths are resolved under it');
  if (!same(current.auth, next.auth)) restartRequired.push('zookeeper.auth_data: the session added its credentials when it connected');
  if (!same(current.acl, next.acl)) restartRequired.push('zookeeper.set_acls: znodes get their ACL when they are created');
  const changed = current.hosts.join(',') !== next.hosts.join(',');
  return { hosts: changed ? next.hosts : null, restartRequired };
}
