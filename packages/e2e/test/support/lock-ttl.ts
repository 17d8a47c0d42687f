/**
 * The ttl the leader's lock is held with, as the store itself reports it: the TTL of the etcd
 * lease under the leader key, or the timeout the ZooKeeper server gave the session that owns the
 * leader znode (the `cons` four-letter command, enabled on the test servers).
 */
import { connect } from 'node:net';
import type { LocalCluster } from '@pgha/local-cluster';
import { etcdctl } from './etcd-keys.js';
import { rawKeysOf } from './raw-keys.js';

export async function leaderLockTtl(cluster: LocalCluster): Promise<number | null> {
  const owner = await (await rawKeysOf(cluster)).owner('leader');
  if (owner === null) return null;
  if (cluster.dcs.kind === 'etcd') {
    const ttl = /granted with TTL\((\d+)s\)/.exec(await etcdctl(cluster, 'lease', 'timetolive', owner))?.[1];
    return ttl ? Number(ttl) : null;
  }
  const sessions = await fourLetterWord(cluster.dcs.endpoints[0]!, 'cons');
  const line = sessions.split('\n').find((l) => l.includes(`sid=0x${owner},`) || l.includes(`sid=0x${owner})`));
  const timeoutMs = line ? /[(,]to=(\d+)/.exec(line)?.[1] : undefined;
  return timeoutMs ? Number(timeoutMs) / 1000 : null;
}

function fourLetterWord(endpoint: string, word: string): Promise<string> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    let out = '';
    const socket = connect({ host: host!, port: Number(port) }, () => socket.end(word));
    socket.setTimeout(10_000, () => socket.destroy(new Error(`ZooKeeper ${word}: no answer within 10 s`)));
    socket.on('data', (d: Buffer) => (out += d.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}
