/**
 * One set of etcd clients (one per endpoint) for several drivers in one process. An agent has
 * its own driver and so its own connections; this is for the scale bench, which runs hundreds
 * of members per process: one gRPC channel per member per endpoint there measures grpc-js
 * (channels starving in name resolution and LB pick), not etcd. Each driver keeps its own lease,
 * watch stream and endpoint rotation; only the HTTP/2 connections are shared.
 */
import { DcsError, DcsErrorCode, type DcsDriver, type DriverOptions } from '@pgha/dcs';
import type { Endpoint } from './call-runner.js';
import { createEndpointClients } from './clients.js';
import { loadConnection, parseEtcdSection } from './config.js';
import { EtcdDriver } from './driver.js';

export interface SharedEtcdClients {
  /** A driver on these clients; closing it leaves them open (they are the set's, not its). */
  createDriver(options: DriverOptions): Promise<DcsDriver>;
  /** Closes the clients: every driver made from the set fails its calls from then on. */
  close(): void;
}

/**
 * Clients for the `etcd3:` section `section`; `fallbackDeadlineMs` is the deadline of a unary
 * call a code path sends without one (the drivers pass their own per attempt), as a driver's
 * own clients use retry_timeout.
 */
export async function createSharedClients(section: Record<string, unknown>, fallbackDeadlineMs: number): Promise<SharedEtcdClients> {
  const connection = await loadConnection(parseEtcdSection(section));
  const endpoints: readonly Endpoint[] = createEndpointClients(connection, fallbackDeadlineMs);
  return {
    async createDriver(options) {
      const settings = parseEtcdSection(options.section);
      for (const warning of settings.warnings) options.logger.warn({ dcs: 'etcd3' }, warning);
      const own = await loadConnection(settings);
      // The driver's reloads compare against its connection, so it must describe the shared clients.
      if (own.endpoints.join(',') !== connection.endpoints.join(',')) {
        throw new DcsError(DcsErrorCode.Config, `etcd3: hosts ${own.endpoints.join(',')} differ from the shared clients' ${connection.endpoints.join(',')}`);
      }
      return new EtcdDriver(options, own, endpoints);
    },
    close() {
      for (const e of endpoints) e.client.close();
    },
  };
}
