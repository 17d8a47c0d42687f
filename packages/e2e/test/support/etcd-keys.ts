/** Reading the cluster's keys straight from etcd with etcdctl, as the seed manual does. */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { LocalCluster } from '@pgha/local-cluster';

const run = promisify(execFile);

/** The `sync` key as Patroni writes it. */
export interface SyncKey {
  leader: string | null;
  sync_standby: string | null;
  quorum?: number;
}

export async function etcdctl(cluster: LocalCluster, ...args: string[]): Promise<string> {
  const { stdout } = await run('etcdctl', [`--endpoints=${cluster.dcs.endpoints.join(',')}`, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 10_000,
  });
  return stdout;
}

export const keyPath = (cluster: LocalCluster, key: string): string => `/service/${cluster.scope}/${key}`;

/** The JSON value of one of the cluster's keys, or null when it is absent. */
export async function readKey<T>(cluster: LocalCluster, key: string): Promise<T | null> {
  const text = (await etcdctl(cluster, 'get', '--print-value-only', keyPath(cluster, key))).trim();
  return text === '' ? null : (JSON.parse(text) as T);
}

/** The standbys a `sync` key names, sorted. */
export const standbysOf = (key: SyncKey | null): string[] => (key?.sync_standby ? key.sync_standby.split(',').sort() : []);

/**
 * Writes `value` to one of the cluster's keys, without a lease, through etcdctl's standard input
 * (an argument is limited to 128 KiB; DCS fuzzing writes values near etcd's 1.5 MiB limit).
 */
export function putKey(cluster: LocalCluster, key: string, value: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('etcdctl', [`--endpoints=${cluster.dcs.endpoints.join(',')}`, 'put', keyPath(cluster, key)], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: 10_000,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`etcdctl put ${key}: exit ${code}: ${stderr.trim()}`))));
    child.stdin.end(value);
  });
}

/** The raw value of one of the cluster's keys, or null when it is absent. */
export async function rawKey(cluster: LocalCluster, key: string): Promise<string | null> {
  const out = await etcdctl(cluster, 'get', '--print-value-only', keyPath(cluster, key));
  return out === '' ? null : out.replace(/\n$/, '');
}
