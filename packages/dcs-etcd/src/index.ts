// @pgha/dcs-etcd: the etcd v3 driver (config section `etcd3:`).
import type { DcsDriver, DriverFactory, DriverOptions } from '@pgha/dcs';
import { loadConnection, parseEtcdSection } from './config.js';
import { EtcdDriver } from './driver.js';

export { etcd3SectionSchema, parseEtcdSection, type EtcdSettings } from './config.js';

/** The backend name, as in Patroni's config section. */
export const kind = 'etcd3';

/**
 * Creates the driver for one agent. Validates the `etcd3:` section and reads the PEM files (both
 * throw `DcsError` `DCS_CONFIG` naming the key); does not contact etcd: the first call does.
 */
export const createDriver: DriverFactory = async (options: DriverOptions): Promise<DcsDriver> => {
  const settings = parseEtcdSection(options.section);
  for (const warning of settings.warnings) options.logger.warn({ dcs: kind }, warning);
  const connection = await loadConnection(settings);
  return new EtcdDriver(options, connection);
};

export { createSharedClients, type SharedEtcdClients } from './shared.js';
