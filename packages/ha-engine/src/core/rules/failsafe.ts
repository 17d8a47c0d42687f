/**
 * Failsafe mode (`failsafe_mode: true`, Patroni 3.0+).
 *
 * While the DCS works, the lock holder publishes the topology (member name → API URL) in the
 * `failsafe` key. When the DCS becomes unreachable, the primary asks every other member of that
 * topology to acknowledge it (`POST /failsafe`). If all do, nobody can be promoted behind its
 * back: a replica that acknowledged treats the primary as its leader for ttl (it follows it even
 * if the DCS shows no lock), and a replica cut off from the DCS never promotes anyway. So the
 * primary keeps running for ttl after the round began, and asks again next cycle. One missing
 * answer and it demotes as without failsafe mode.
 */
import type { Cluster, Failsafe, Member } from '@pgha/dcs';
import type { Action } from '../actions.js';
import type { Snapshot } from '../snapshot.js';
import type { Outcome } from './context.js';

/** The topology the leader publishes: every member with an API URL, and itself. */
export function failsafeTopology(s: Snapshot, cluster: Cluster): Failsafe {
  const topology: Failsafe = {};
  for (const m of cluster.members) {
    if (typeof m.data.api_url === 'string' && m.data.api_url !== '') topology[m.name] = m.data.api_url;
  }
  topology[s.me.name] = s.me.apiUrl;
  return topology;
}

/**
 * After a decision that renews our lock: write the `failsafe` key when the topology changed, or
 * delete it once failsafe mode is off. The write follows the renewal, so a lost lock skips it.
 */
export function failsafeUpkeep(s: Snapshot, cluster: Cluster, actions: Action[]): Action[] {
  if (cluster.leader?.name !== s.me.name) return [];
  if (!actions.some((a) => a.kind === 'renew_lock') || actions.some((a) => a.kind === 'release_lock')) return [];
  if (!s.config.failsafeMode) return cluster.failsafe ? [{ kind: 'write_failsafe', topology: null }] : [];
  const topology = failsafeTopology(s, cluster);
  return sameTopology(cluster.failsafe?.value ?? null, topology) ? [] : [{ kind: 'write_failsafe', topology }];
}

/** A ping younger than ttl from another member, with failsafe mode on. */
export function freshFailsafePing(s: Snapshot): NonNullable<Snapshot['failsafePing']> | null {
  const ping = s.failsafePing;
  if (!s.config.failsafeMode || !ping || ping.name === s.me.name) return null;
  return s.now - ping.receivedAt < s.config.ttl * 1000 ? ping : null;
}

/**
 * Patroni's `Failsafe.update_cluster`: with no lock holder in the DCS, a replica that a primary
 * pinged within ttl sees that primary as the leader, so it follows it instead of racing.
 */
export function withFailsafeLeader(s: Snapshot, cluster: Cluster): Cluster {
  const ping = freshFailsafePing(s);
  if (!ping || cluster.leader !== null) return cluster;
  const known = cluster.members.some((m) => m.name === ping.name);
  // Its member key may have expired with its session: the ping tells where it is.
  const pinged: Member = {
    name: ping.name,
    version: '',
    data: {
      role: 'primary',
      state: 'running',
      tags: {},
      extra: {},
      ...(ping.connUrl ? { conn_url: ping.connUrl } : {}),
      ...(ping.apiUrl ? { api_url: ping.apiUrl } : {}),
    },
  };
  const members = known ? cluster.members : [...cluster.members, pinged].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ...cluster, leader: { name: ping.name, version: 'failsafe' }, members };
}

/**
 * The DCS is unreachable and we may be a writable primary holding the lock: the failsafe round.
 * Returns the outcome when failsafe mode decides (ask, or keep running), or notes explaining why
 * it does not, for the ordinary DCS-loss rule to go on with.
 */
export function failsafeOnDcsLoss(s: Snapshot, topology: Failsafe | null | undefined): { outcome: Outcome } | { notes: string[] } {
  if (!s.lock.held) return { notes: ['failsafe mode: not holding the leader lock'] };
  if (!topology || !(s.me.name in topology)) return { notes: [`failsafe mode: ${s.me.name} is not in the failsafe topology`] };
  const others = Object.entries(topology)
    .filter(([name]) => name !== s.me.name)
    .map(([name, apiUrl]) => ({ name, apiUrl }));
  const keep = (startedAt: number): { outcome: Outcome } => ({
    outcome: {
      code: 'failsafe.leader-kept',
      reason: 'continue to run as a leader because failsafe mode is enabled and all members are accessible',
      actions: [{ kind: 'failsafe_hold', validUntil: startedAt + s.config.ttl * 1000 }],
    },
  });
  // A single-member cluster: nobody could take over.
  if (others.length === 0) return keep(s.now);
  const check = s.failsafeCheck;
  if (!check) {
    return { outcome: { code: 'failsafe.checking', reason: 'DCS is not accessible; checking the failsafe topology', actions: [{ kind: 'failsafe_check', members: others }] } };
  }
  const missing = others.filter((o) => !check.acks.some((a) => a.name === o.name && a.accepted));
  if (missing.length === 0) return keep(check.startedAt);
  const why = missing.map((m) => {
    const ack = check.acks.find((a) => a.name === m.name);
    return `${m.name} (${ack?.error ?? 'no answer'})`;
  });
  return { notes: [`failsafe mode: not acknowledged by ${why.join(', ')}`] };
}

function sameTopology(a: Failsafe | null, b: Failsafe): boolean {
  if (!a) return false;
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}
