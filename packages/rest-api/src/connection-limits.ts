/**
 * Bounds that keep a flood of clients from starving the HA cycle that shares this process, or
 * from locking the operator out: connections in all and per source address, and request bodies
 * being read at once per source. A load balancer polls over a few connections; an operator's
 * call carries one small body. What goes beyond is somebody else's traffic, and is cut off early
 * and cheaply (a destroyed socket, a 503) rather than queued.
 */
import type { Socket } from 'node:net';

export interface ConnectionLimitOptions {
  /**
   * Open connections in all (default 512): well under the 1,024 file descriptors a service gets by
   * default, so a flood cannot take the ones the agent needs for the DCS and PostgreSQL.
   */
  maxConnections: number;
  /** Open connections from one source address (default 128). */
  maxPerSource: number;
  /** Request bodies read at once from one source address (default 2). */
  maxBodyReadsPerSource: number;
}

export const CONNECTION_LIMITS: ConnectionLimitOptions = { maxConnections: 512, maxPerSource: 128, maxBodyReadsPerSource: 2 };

export interface ConnectionLimits {
  /** Counts a new connection; false (and the socket destroyed) when it is over a bound. */
  admit(socket: Socket, source: string): boolean;
  /** Takes a body-reading slot of `source`; null when it has none left, else the release. */
  startBody(source: string): (() => void) | null;
  /** Connections open now (for tests and metrics). */
  readonly open: number;
}

export function createConnectionLimits(o: ConnectionLimitOptions, onRefused: (source: string, why: string) => void): ConnectionLimits {
  const perSource = new Map<string, number>();
  const reading = new Map<string, number>();
  let open = 0;
  const dec = (map: Map<string, number>, key: string) => {
    const n = (map.get(key) ?? 1) - 1;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };
  return {
    admit(socket, source) {
      const mine = perSource.get(source) ?? 0;
      const why = open >= o.maxConnections ? `${o.maxConnections} connections open` : mine >= o.maxPerSource ? `${o.maxPerSource} connections open from ${source}` : null;
      if (why) {
        socket.destroy();
        onRefused(source, why);
        return false;
      }
      open++;
      perSource.set(source, mine + 1);
      socket.once('close', () => {
        open--;
        dec(perSource, source);
      });
      return true;
    },
    startBody(source) {
      const n = reading.get(source) ?? 0;
      if (n >= o.maxBodyReadsPerSource) return null;
      reading.set(source, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        dec(reading, source);
      };
    },
    get open() {
      return open;
    },
  };
}
