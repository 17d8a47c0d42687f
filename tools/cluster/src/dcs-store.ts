/**
 * The cluster's keys read through pgha's own DCS drivers, on either store, as a tool built on
 * `@pgha/dcs` would read them (for tests and benchmarks; the e2e's etcd-keys.ts reads etcd with
 * etcdctl, as the seed manual does).
 */
import type { Cluster, ClusterStore, DcsDriver } from '@pgha/dcs';
import { createClusterStore, silentLogger, systemClock } from '@pgha/dcs';
import { createDriver as createEtcdDriver } from '@pgha/dcs-etcd';
import { createDriver as createZooKeeperDriver } from '@pgha/dcs-zookeeper';
import type { LocalCluster } from './cluster.js';

export type { Cluster, ClusterStore, DcsDriver } from '@pgha/dcs';

/** A driver on the cluster's DCS under a name no member has; tests only read through it. `close()` when done. */
export async function openDcsDriver(cluster: LocalCluster, name = 'e2e-reader'): Promise<DcsDriver> {
  const { kind, endpoints, settings } = cluster.dcs;
  const section = { hosts: kind === 'etcd' ? endpoints.map((e) => e.replace(/^https?:\/\//, '')) : endpoints, ...settings };
  const factory = kind === 'etcd' ? createEtcdDriver : createZooKeeperDriver;
  return factory({ namespace: '/service', scope: cluster.scope, name, section, ttl: 30, loopWait: 10, retryTimeout: 10, clock: systemClock, logger: silentLogger });
}

/** A read-only view of the cluster's keys; `close()` when done. */
export async function openClusterStore(cluster: LocalCluster): Promise<ClusterStore> {
  return createClusterStore(await openDcsDriver(cluster), { name: cluster.scope, logger: silentLogger });
}

/** The standbys the `sync` key names, sorted, when it names `leader`; [] otherwise. */
export function syncStandbys(cluster: Cluster, leader: string): string[] {
  const value = cluster.sync?.value;
  return value && value.leader === leader ? [...value.sync_standby].sort() : [];
}
