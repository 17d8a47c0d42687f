/**
 * A TCP proxy on loopback in front of one server (the DCS, or one member's PostgreSQL or REST
 * API), to cut traffic the way a network partition does: while cut, bytes in flight are held back
 * in both directions and new connections are accepted but never reach the server, so clients see
 * requests that time out rather than refused connections. Healing lets everything flow again.
 *
 * A proxy is either cut as a whole (`partition`) or only for the connections of one source
 * (`block`): every peer reaches a member through the same proxy, so cutting member A off from B
 * without cutting C off from B needs to know which member opened each connection. `identify`
 * answers that once per connection. While some source is blocked, a new connection waits for
 * the answer before any byte flows; otherwise it flows at once and is identified meanwhile, for
 * a block that comes later. Waiting always put the /proc search (socket-owner.ts) in front of
 * every peer probe: under load it outlasted the agents' 2 s probe deadline, and in quorum mode
 * no replica got the vote it needed (docs/chaos.md, record entry 4).
 */
import { createServer, Socket, type Server } from 'node:net';

export interface TcpProxy {
  /** The port clients connect to. */
  port: number;
  /** Where connections go; until set, new connections are closed. */
  setTarget(port: number): void;
  /** Holds every connection, old and new. */
  partition(): void;
  heal(): void;
  /** Holds the connections opened by `source` (as `identify` names it), old and new. */
  block(source: string): void;
  unblock(source: string): void;
  readonly partitioned: boolean;
  close(): Promise<void>;
}

/** Kept for the DCS proxies' call sites: the same proxy. */
export type DcsProxy = TcpProxy;

export interface ProxyOptions {
  /** Names the source of a new connection (null: unknown, never blocked by `block`). */
  identify?: (client: Socket) => Promise<string | null>;
}

interface Pair {
  client: Socket;
  upstream: Socket | null;
  flowing: boolean;
  /** Undefined until identified. */
  source: string | null | undefined;
}

export async function startProxy(options: ProxyOptions = {}): Promise<TcpProxy> {
  let target: number | null = null;
  let partitioned = false;
  const blocked = new Set<string>();
  const pairs = new Set<Pair>();
  // A connection not identified yet may belong to any blocked source.
  const held = (pair: Pair) =>
    partitioned || (pair.source === undefined ? blocked.size > 0 : pair.source !== null && blocked.has(pair.source));

  const link = (pair: Pair) => {
    if (target === null) {
      pair.client.destroy();
      return;
    }
    const upstream = new Socket();
    pair.upstream = upstream;
    const close = () => {
      pair.client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    upstream.on('error', close);
    upstream.on('close', close);
    pair.client.on('close', close);
    upstream.connect(target, '127.0.0.1', () => {
      if (!held(pair)) flow(pair);
    });
  };
  const flow = (pair: Pair) => {
    if (!pair.upstream) return link(pair);
    if (pair.upstream.connecting || pair.flowing) return;
    pair.flowing = true;
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };
  const hold = (pair: Pair) => {
    pair.flowing = false;
    pair.client.unpipe();
    pair.client.pause();
    pair.upstream?.unpipe();
    pair.upstream?.pause();
  };
  const update = () => {
    for (const p of pairs) {
      if (held(p)) hold(p);
      else flow(p);
    }
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: Pair = { client, upstream: null, flowing: false, source: options.identify ? undefined : null };
    pairs.add(pair);
    client.on('error', () => client.destroy());
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (options.identify) {
      // Identified while the client process still holds its end of the connection.
      void options.identify(client).then(
        (source) => (pair.source = source),
        () => (pair.source = null),
      ).then(() => {
        if (!pairs.has(pair)) return;
        if (held(pair)) hold(pair);
        else flow(pair);
      });
    }
    // Held connections are only linked to the server on heal (or once identified).
    if (!held(pair)) link(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected proxy address');

  return {
    port: address.port,
    setTarget(port) {
      target = port;
    },
    partition() {
      partitioned = true;
      update();
    },
    heal() {
      partitioned = false;
      update();
    },
    block(source) {
      blocked.add(source);
      update();
    },
    unblock(source) {
      blocked.delete(source);
      update();
    },
    get partitioned() {
      return partitioned;
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const startDcsProxy = (): Promise<TcpProxy> => startProxy();
