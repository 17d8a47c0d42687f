/**
 * Raw reads and writes of the cluster's keys, on either store, as an operator with etcdctl or
 * zkCli would make them (values written as given, no lease or session of a member): for tests
 * that put garbage into the DCS. ZooKeeper goes through pgha's own session process, since zkCli
 * cannot pass a value near the 1 MiB znode limit as an argument.
 */
import { systemClock } from '@pgha/dcs';
import { ZooKeeperSession } from '@pgha/dcs-zookeeper';
import type { LocalCluster } from '@pgha/local-cluster';
import { etcdctl, keyPath, putKey, rawKey } from './etcd-keys.js';

export interface RawKeys {
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
  del(key: string): Promise<void>;
  /** Who holds the key: the etcd lease id or the ZooKeeper session id (hex), null for none. */
  owner(key: string): Promise<string | null>;
  close(): Promise<void>;
}

const NO_NODE = -101;
const NODE_EXISTS = -110;

export async function openRawKeys(cluster: LocalCluster): Promise<RawKeys> {
  if (cluster.dcs.kind === 'etcd') {
    return {
      get: (key) => rawKey(cluster, key),
      put: (key, value) => putKey(cluster, key, value),
      del: async (key) => void (await etcdctl(cluster, 'del', keyPath(cluster, key))),
      async owner(key) {
        // Lease ids are int64: read them as text, JSON.parse would round them.
        const id = /"lease":(\d+)/.exec(await etcdctl(cluster, 'get', '--write-out=json', keyPath(cluster, key)))?.[1];
        return id ? BigInt(id).toString(16) : null;
      },
      close: async () => {},
    };
  }
  let connected!: () => void;
  const ready = new Promise<void>((r) => (connected = r));
  const session = new ZooKeeperSession({
    connect: cluster.dcs.endpoints.join(','),
    timeoutMs: 30_000,
    auth: [],
    clock: systemClock,
    events: { connected: () => connected(), connecting: () => {}, fired: () => {}, ended: () => {}, log: () => {} },
  });
  await Promise.race([ready, new Promise((_, reject) => setTimeout(() => reject(new Error('no ZooKeeper session within 20 s')), 20_000))]);
  const call = async (request: Parameters<ZooKeeperSession['call']>[0]) => {
    const result = await session.call(request, 10_000);
    if (result.kind !== 'reply') throw new Error(`ZooKeeper ${request.op}: ${result.kind}`);
    return result.reply;
  };
  return {
    async get(key) {
      const reply = await call({ op: 'get', path: keyPath(cluster, key) });
      if (reply.rc === NO_NODE) return null;
      if (reply.rc !== 0) throw new Error(`ZooKeeper get ${key}: ${reply.rc} ${reply.message ?? ''}`);
      return reply.data ?? '';
    },
    async put(key, value) {
      const path = keyPath(cluster, key);
      let reply = await call({ op: 'set', path, data: value, version: -1 });
      if (reply.rc === NO_NODE) reply = await call({ op: 'create', path, data: value, ephemeral: false });
      if (reply.rc === NODE_EXISTS) reply = await call({ op: 'set', path, data: value, version: -1 });
      if (reply.rc !== 0) throw new Error(`ZooKeeper put ${key}: ${reply.rc} ${reply.message ?? ''}`);
    },
    async del(key) {
      const reply = await call({ op: 'delete', path: keyPath(cluster, key), version: -1 });
      if (reply.rc !== 0 && reply.rc !== NO_NODE) throw new Error(`ZooKeeper delete ${key}: ${reply.rc} ${reply.message ?? ''}`);
    },
    async owner(key) {
      const reply = await call({ op: 'get', path: keyPath(cluster, key) });
      return reply.rc === 0 ? (reply.stat?.owner ?? null) : null;
    },
    close: () => session.end(false),
  };
}

const opened = new WeakMap<LocalCluster, Promise<RawKeys>>();

/** One raw-key accessor per cluster, opened on first use (a ZooKeeper session); `closeRawKeys` ends it. */
export function rawKeysOf(cluster: LocalCluster): Promise<RawKeys> {
  let keys = opened.get(cluster);
  if (!keys) {
    keys = openRawKeys(cluster);
    opened.set(cluster, keys);
  }
  return keys;
}

export async function closeRawKeys(cluster: LocalCluster): Promise<void> {
  const keys = opened.get(cluster);
  opened.delete(cluster);
  await (await keys)?.close();
}

/** The JSON value of one of the cluster's keys, on either store, or null when it is absent. */
export async function readJsonKey<T>(cluster: LocalCluster, key: string): Promise<T | null> {
  const text = await (await rawKeysOf(cluster)).get(key);
  return text === null || text.trim() === '' ? null : (JSON.parse(text) as T);
}

/** Writes a JSON value to one of the cluster's keys as an operator would (no lease or session). */
export async function writeJsonKey(cluster: LocalCluster, key: string, value: unknown): Promise<void> {
  await (await rawKeysOf(cluster)).put(key, JSON.stringify(value));
}
