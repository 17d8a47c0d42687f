/**
 * Health checks as Patroni answers them (GET returns 200 or 503 with the /patroni body; HEAD and
 * OPTIONS the same status without a body). Pure functions of the last cycle's snapshot: no I/O.
 */
import { isNoLoadBalance, synchronousRoleOf } from '@pgha/dcs';
import { exceedsLag, replicaLagPosition, type LagMeasure } from '@pgha/ha-engine';
import type { ApiSnapshot } from './state.js';

export type Query = URLSearchParams;

/** Parses Patroni's size syntax for `?lag=`: bytes, or a number with B, kB, MB, GB or TB. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*$/.exec(text);
  if (!m) return null;
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2] ?? 'B'] ?? 1;
  return Number(m[1]) * unit;
}

const isPrimaryRole = (s: ApiSnapshot) => s.status.role === 'primary' || s.status.role === 'master';
const isRunning = (s: ApiSnapshot) => s.status.state === 'running';

/** Patroni 4.1's `sync_standby` / `quorum_standby` of this member (the shared cluster rule). */
function syncRole(s: ApiSnapshot): 'sync_standby' | 'quorum_standby' | null {
  return s.cluster ? synchronousRoleOf(s.cluster, s.status.patroni.name) : null;
}

/**
 * The engine's lag rule (core/wal-position.ts) measured as Patroni's API does: from the replayed
 * position by default, not the received one the engine's candidate checks count.
 */
function lagsBy(s: ApiSnapshot, maxLagBytes: number, measure: LagMeasure = 'replayed'): boolean {
  const xlog = s.status.xlog;
  const replica = xlog && 'replayed_location' in xlog ? { receivedLsn: xlog.received_location ?? null, replayedLsn: xlog.replayed_location ?? null } : { receivedLsn: null, replayedLsn: null };
  const position = replicaLagPosition(replica, measure);
  return exceedsLag({ primaryLsn: s.cluster?.status?.value.optime ?? 0, position, maxLagBytes });
}

/**
 * Patroni 4.1's `_readiness`: the lock holder is ready; otherwise PostgreSQL must run, stream, and
 * be within `?lag=` (default `maximum_lag_on_failover`; an unreadable value falls back to it) of
 * the leader's last published position — received WAL with `?mode=write`, replayed WAL otherwise
 * (`apply`, the default). Without a DCS read only an active failsafe keeps a replica ready.
 */
function ready(s: ApiSnapshot, q: Query): boolean {
  if (s.hasLock) return true;
  // A replica past replica_not_streaming_timeout is not ready either (wal-receiver.ts).
  if (!isRunning(s) || s.status.replication_state !== 'streaming' || notReplicating(s)) return false;
  if (s.cluster === null) return s.status.failsafe_mode_is_active === true;
  const lagText = q.get('lag');
  const maxLag = (lagText === null ? null : parseSize(lagText)) ?? s.maximumLagOnFailover;
  return !lagsBy(s, maxLag, q.get('mode') === 'write' ? 'held' : 'replayed');
}

/** The primary's last published position minus our replay position exceeds `?lag=`. */
function isLagging(s: ApiSnapshot, query: Query): boolean {
  const lagText = query.get('lag');
  if (lagText === null) return false;
  const maxLag = parseSize(lagText);
  return maxLag !== null && lagsBy(s, maxLag);
}

/** Every `?tag_<key>=<value>` must equal the member's tag (compared as text). */
function tagsMatch(s: ApiSnapshot, query: Query): boolean {
  const tags = s.status.tags ?? {};
  for (const [key, value] of query) {
    if (!key.startsWith('tag_')) continue;
    const tag = tags[key.slice(4)];
    if (tag === undefined || String(tag).toLowerCase() !== value.toLowerCase()) return false;
  }
  return true;
}

/**
 * A replica past `replica_not_streaming_timeout` without streaming from its upstream: Patroni's
 * `/replica` means "running and replicating", and the lag it would report is unknown and growing.
 */
const notReplicating = (s: ApiSnapshot) => s.notStreaming?.unhealthy === true;

function replicaOk(s: ApiSnapshot, query: Query): boolean {
  if (s.status.role !== 'replica' || !isRunning(s) || notReplicating(s)) return false;
  if (isNoLoadBalance(s.status.tags ?? {})) return false;
  const wantedState = query.get('replication_state');
  if (wantedState !== null && s.status.replication_state !== wantedState) return false;
  return !isLagging(s, query) && tagsMatch(s, query);
}

const leaderOk = (s: ApiSnapshot) => s.hasLock && isPrimaryRole(s) && isRunning(s);
const standbyLeaderOk = (s: ApiSnapshot) => s.hasLock && s.status.role === 'standby_leader' && isRunning(s);
const isSync = (s: ApiSnapshot) => syncRole(s) === 'sync_standby';
const isQuorum = (s: ApiSnapshot) => syncRole(s) === 'quorum_standby';

type Check = (s: ApiSnapshot, q: Query, nowMs: number) => boolean;

/** Path → check. Paths are matched exactly after removing a trailing slash. */
export const HEALTH_CHECKS: Record<string, Check> = {
  '/': (s) => leaderOk(s),
  '/primary': (s) => leaderOk(s),
  '/master': (s) => leaderOk(s),
  '/read-write': (s) => leaderOk(s),
  '/leader': (s) => leaderOk(s) || standbyLeaderOk(s),
  '/standby-leader': (s) => standbyLeaderOk(s),
  '/standby_leader': (s) => standbyLeaderOk(s),
  '/replica': (s, q) => replicaOk(s, q),
  '/read-only': (s, q) => leaderOk(s) || standbyLeaderOk(s) || replicaOk(s, q),
  '/sync': (s, q) => replicaOk(s, q) && isSync(s),
  '/synchronous': (s, q) => replicaOk(s, q) && isSync(s),
  '/read-only-sync': (s, q) => leaderOk(s) || (replicaOk(s, q) && isSync(s)),
  '/read-only-synchronous': (s, q) => leaderOk(s) || (replicaOk(s, q) && isSync(s)),
  '/quorum': (s, q) => replicaOk(s, q) && isQuorum(s),
  '/read-only-quorum': (s, q) => leaderOk(s) || (replicaOk(s, q) && isQuorum(s)),
  '/async': (s, q) => replicaOk(s, q) && syncRole(s) === null,
  '/asynchronous': (s, q) => replicaOk(s, q) && syncRole(s) === null,
  // Patroni's /health is "PostgreSQL runs"; a `?lag=` (which Patroni ignores here) is taken at its word.
  '/health': (s, q) => isRunning(s) && !(q.has('lag') && notReplicating(s)),
  '/liveness': (s, _q, now) => {
    if (s.status.pause) return true;
    const limit = (isPrimaryRole(s) && s.hasLock ? 1 : 2) * s.ttl * 1000;
    return now - s.lastCycleAt <= limit;
  },
  '/readiness': (s, q) => ready(s, q),
};

/** The status code of a health check, or null when `path` is not one. */
export function healthStatus(path: string, query: Query, snapshot: ApiSnapshot, nowMs: number): 200 | 503 | null {
  const check = HEALTH_CHECKS[path];
  if (!check) return null;
  return check(snapshot, query, nowMs) ? 200 : 503;
}
