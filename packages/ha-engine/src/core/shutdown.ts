/**
 * What a clean agent shutdown (SIGTERM) does, as Patroni's `Ha.shutdown`: normally PostgreSQL is
 * stopped (fast; a leader's stop bounded by primary_stop_timeout) and then the lock released, in
 * that order, so no write follows the release. In maintenance mode nothing is touched: PostgreSQL
 * keeps running and the leader key stays, so the agent can be restarted or upgraded under a
 * running cluster (`pghactl pause`, restart each agent, `pghactl resume`); only the watchdog is
 * disarmed, since nobody will keep it alive.
 */
import { primaryStopTimeoutMs, type EngineConfig } from './config.js';

export type ShutdownPlan =
  | { kind: 'leave-running'; reason: string }
  | { kind: 'stop-then-release'; stopTimeoutMs: number | null };

export function shutdownPlan(config: Pick<EngineConfig, 'pause' | 'primaryStopTimeout' | 'synchronousMode'>, holdsLock: boolean): ShutdownPlan {
  if (config.pause) return { kind: 'leave-running', reason: 'Leader key is not deleted and Postgresql is not stopped due paused state' };
  return { kind: 'stop-then-release', stopTimeoutMs: holdsLock ? primaryStopTimeoutMs(config) : null };
}
