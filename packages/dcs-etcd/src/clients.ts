import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdConnection } from './config.js';
import type { Endpoint } from './call-runner.js';

/**
 * One etcd3 client per endpoint, so the driver decides which member each attempt goes to.
 *
 * - The library's retry and circuit breaker are replaced by cockatiel's `noop` (the documented
 *   `Policy.noop` does not exist in cockatiel 3 and silently keeps the defaults): the breaker
 *   locked a restarted etcd out for 5 s, and the retries gave each attempt a fresh deadline.
 * - Every unary call gets a deadline even if a code path forgets one (auth token exchange); the
 *   driver passes tighter ones per attempt.
 * - gRPC keepalive pings detect a dead or frozen member under an open watch stream; etcd refuses
 *   pings more often than every 5 s, and pings without a stream.
 * - Short reconnect backoff: etcd restarts are expected and should be usable within a second.
 */
export function createEndpointClients(connection: EtcdConnection, fallbackDeadlineMs: number): Endpoint[] {
  return connection.endpoints.map((url) => {
    const options: IOptions = {
      hosts: [url],
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + fallbackDeadlineMs }),
      grpcOptions: {
        'grpc.keepalive_time_ms': 6000,
        'grpc.keepalive_timeout_ms': 3000,
        'grpc.keepalive_permit_without_calls': 0,
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.use_local_subchannel_pool': 1,
      },
    };
    if (connection.credentials) options.credentials = connection.credentials;
    if (connection.auth) options.auth = { ...connection.auth };
    return { url, client: new Etcd3(options) };
  });
}
