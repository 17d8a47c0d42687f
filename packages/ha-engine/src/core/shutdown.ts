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
import { primaryStopTimeoutMs, type EngineConfig } from './config.js';

export type ShutdownPlan =
  | { kind: 'leave-running'; reason: string }
  | { kind: 'stop-then-release'; stopTimeoutMs: number | null };

export function shutdownPlan(config: Pick<EngineConfig, 'pause' | 'primaryStopTimeout' | 'synchronousMode'>, holdsLock: boolean): ShutdownPlan {
  if (config.pause) return { kind: 'leave-running', reason: 'Postgresql is not stopped due paused state; the leader key goes with this session and the next agent takes it again' };
  return { kind: 'stop-then-release', stopTimeoutMs: holdsLock ? primaryStopTimeoutMs(config) : null };
}
