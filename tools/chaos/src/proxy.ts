/**
 * A TCP proxy on loopback between one agent and the DCS, to cut that agent off from the DCS the
 * way a network partition does: while partitioned, bytes in flight are held back in both
 * directions and new connections are accepted but never reach the DCS, so the agent sees
 * requests that time out rather than refused connections. Healing lets everything flow again.
 */
import { createServer, Socket, type Server } from 'node:net';

export interface DcsProxy {
  /** The port agents connect to. */
  port: number;
  /** Where connections go; until set, new connections are closed. */
  setTarget(port: number): void;
  partition(): void;
  heal(): void;
  readonly partitioned: boolean;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | null;
  flowing: boolean;
}

export async function startDcsProxy(): Promise<DcsProxy> {
  let target: number | null = null;
  let partitioned = false;
  const pairs = new Set<Pair>();

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
      if (!partitioned) flow(pair);
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

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    const pair: Pair = { client, upstream: null, flowing: false };
    pairs.add(pair);
    client.on('error', () => client.destroy());
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    // Partitioned: the connection is held and only linked to the DCS on heal.
    if (!partitioned) link(pair);
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
      for (const p of pairs) hold(p);
    },
    heal() {
      partitioned = false;
      for (const p of pairs) flow(p);
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
