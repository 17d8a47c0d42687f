/**
 * What a clean agent shutdown (SIGTERM) does, as Patroni's `Ha.shutdown`: normally PostgreSQL is
 * stopped (fast; a leader's stop bounded by primary_stop_timeout) and then the lock released, in
 * that order, so no write follows the release. In maintenance mode PostgreSQL is left running, so
 * the agent can be restarted or upgraded under a running cluster (`pghactl pause`, restart each
 * agent, `pghactl resume`); only the watchdog is disarmed, since nobody will keep it alive.
 * Unlike Patroni the leader key does not outlive the agent: it belongs to the agent's DCS session,
 * which ends with it, and pgha never adopts a key of its name from another session (that is how
 * it tells a second agent with the same name). The next agent, finding PostgreSQL running as
 * primary and the lock free, takes it in its first cycle; in maintenance mode nobody else does.
 */
import { isNoSync, type Cluster, type MemberTags } from '@pgha/dcs';
import { primaryStopTimeoutMs, type EngineConfig } from './config.js';

export type ShutdownPlan =
  | { kind: 'leave-running'; reason: string }
  | {
      kind: 'stop-then-release';
      stopTimeoutMs: number | null;
      /**
       * Patroni's `while_not_sync_standby`: before stopping, a replica of a synchronous cluster
       * publishes `nosync: true` in its member key and waits (at most `waitMs`) until the primary
       * has taken it out of `/sync`, so that stopping a synchronous standby does not hold up
       * commits until the primary notices. Null when it does not apply.
       */
      releaseSync: { waitMs: number } | null;
    };

type ShutdownConfig = Pick<EngineConfig, 'pause' | 'primaryStopTimeout' | 'synchronousMode' | 'standbyCluster' | 'loopWait'>;

export function shutdownPlan(config: ShutdownConfig, holdsLock: boolean, myTags: MemberTags = {}): ShutdownPlan {
  if (config.pause) return { kind: 'leave-running', reason: 'Postgresql is not stopped due paused state; the leader key goes with this session and the next agent takes it again' };
  // As Patroni: not for the leader, without synchronous mode (a standby cluster has none), or when nosync already.
  const releaseSync = !holdsLock && config.synchronousMode !== 'off' && config.standbyCluster === null && !isNoSync(myTags) ? { waitMs: config.loopWait * 2 * 1000 } : null;
  return { kind: 'stop-then-release', stopTimeoutMs: holdsLock ? primaryStopTimeoutMs(config) : null, releaseSync };
}

/**
 * Patroni's `is_sync_standby`: the `/sync` key is the current leader's and names `member`
 * (compared case-insensitively, as PostgreSQL compares `synchronous_standby_names`).
 */
export function isSynchronousStandby(cluster: Pick<Cluster, 'leader' | 'sync'>, member: string): boolean {
  const leader = cluster.leader?.name;
  const sync = cluster.sync?.value;
  if (!leader || !sync || sync.leader?.toLowerCase() !== leader.toLowerCase()) return false;
  return sync.sync_standby.some((n) => n.toLowerCase() === member.toLowerCase());
}
