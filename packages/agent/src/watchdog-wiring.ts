/**
 * Builds the engine's WatchdogPort from the `watchdog:` section, and adds `watchdog_failed` to
 * GET /patroni when `required` cannot be met (peers read it and skip this member).
 */
import { watchdogTiming, type EngineConfig, type WatchdogPort } from '@pgha/ha-engine';
import type { ApiSnapshot } from '@pgha/rest-api';
import { createWatchdog, parseWatchdogConfig, type Watchdog, type WatchdogLogger } from '@pgha/watchdog';

export interface WatchdogWiring {
  /** The port to pass to `createHaLoop({ watchdog })`. */
  port: WatchdogPort;
  watchdog: Watchdog;
  /** Marks the API snapshot when the watchdog is required but not usable. */
  decorate(snapshot: ApiSnapshot): ApiSnapshot;
}

/**
 * `engineConfig` returns the loop's current configuration (ttl / loop_wait come from the DCS and
 * may change); it is only called once the loop runs, so it may refer to a loop built afterwards.
 * Throws a `WatchdogError` (WATCHDOG_UNSUPPORTED) when `required` on a platform without a driver.
 */
export function buildWatchdog(options: {
  section: unknown;
  engineConfig: () => EngineConfig;
  /**
   * How long the DCS keeps our lock without a renewal, in seconds (`store.hold().ttl`): a
   * ZooKeeper server may grant a shorter session than the ttl asked for, and the watchdog must
   * fire before *that* runs out, or a frozen primary still takes writes after a replica promoted.
   */
  leaseSeconds?: () => number | null;
  logger: WatchdogLogger;
}): WatchdogWiring {
  const { config, warnings } = parseWatchdogConfig(options.section);
  for (const w of warnings) options.logger.warn(w);
  const watchdog = createWatchdog({
    config,
    // The rule (the shorter of ttl and the granted lease) is the engine's (core/lease.ts).
    timing: () => watchdogTiming(options.engineConfig(), options.leaseSeconds?.() ?? null),
    logger: options.logger,
  });
  const port: WatchdogPort = {
    activate: () => watchdog.activate(),
    keepalive: () => watchdog.keepalive(),
    disable: () => watchdog.disable(),
    get healthy() {
      return watchdog.healthy;
    },
  };
  return {
    port,
    watchdog,
    decorate(snapshot) {
      if (watchdog.healthy) return snapshot;
      return { ...snapshot, status: { ...snapshot.status, watchdog_failed: true } };
    },
  };
}
