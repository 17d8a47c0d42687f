// @pgha/dcs-zookeeper: the ZooKeeper driver (Patroni's layout, ephemeral leader and member znodes).
import type { DriverFactory } from '@pgha/dcs';
import { createZooKeeperDriver } from './driver.js';

/** Short name of the backend, as in the config section (`zookeeper:`). */
export const kind = 'zookeeper';

/**
 * The plugin entry point: what the `@pgha/dcs` loader calls with the `zookeeper:` section. Throws
 * `DCS_CONFIG` for an invalid section. Waits up to `retryTimeout` for the first connection, so
 * the first HA cycle finds a session; an unreachable ZooKeeper does not fail it (calls do).
 */
export const createDriver: DriverFactory = async (options) => {
  const driver = createZooKeeperDriver(options);
  await driver.whenConnected(options.retryTimeout * 1000);
  return driver;
};

export { createZooKeeperDriver, type ZooKeeperDriver, type ZooKeeperDriverInfo } from './driver.js';
export { parseZooKeeperSection, type ZooKeeperSettings } from './config.js';
export { ZooKeeperSession, type CallResult } from './session-client.js';
