/**
 * A TCP proxy in the root namespace on a path between two hosts, to make that link slow: this
 * kernel has no `netem` qdisc, so delay, jitter and loss are done here, per chunk of bytes, in
 * both directions. Each direction keeps its bytes in order (TCP never reorders what it
 * delivers), so jitter only ever adds to a chunk's delay. A lost segment is what TCP makes of it:
 * the bytes arrive, one retransmission timeout later (`rtoMs`), and everything behind them waits.
 */
import { createServer, Socket, type Server } from 'node:net';

export interface LinkShape {
  /** Added to each direction, ms (a round trip gains twice this). */
  delayMs: number;
  /** Up to this much more per chunk, uniformly drawn, ms. */
  jitterMs: number;
  /** Probability (0..1) that a chunk is "lost" and arrives `rtoMs` late. */
  loss: number;
  /** Default 1000 ms, Linux's initial retransmission timeout. */
  rtoMs?: number;
}

export const CLEAR_LINK: LinkShape = { delayMs: 0, jitterMs: 0, loss: 0 };

export interface LinkProxy {
  /** `gateway:port`, what clients are given instead of the target. */
  address: string;
  port: number;
  shape(link: LinkShape): void;
  readonly current: LinkShape;
  close(): Promise<void>;
}

/** One direction: `from`'s bytes reach `to` after the link's delay, in order. */
function delayedPipe(from: Socket, to: Socket, link: () => LinkShape, random: () => number): void {
  let lastRelease = 0;
  // One queue and one timer per direction: separate timers with close deadlines can fire out of
  // order (and a chunk already due would overtake a late timer) on a loaded machine.
  const queue: { at: number; act: () => void }[] = [];
  let timer: NodeJS.Timeout | null = null;
  const pump = () => {
    timer = null;
    while (queue.length > 0 && queue[0]!.at <= Date.now()) queue.shift()!.act();
    if (queue.length > 0) timer = setTimeout(pump, queue[0]!.at - Date.now());
  };
  const release = (act: () => void) => {
    const l = link();
    const now = Date.now();
    let delay = l.delayMs + random() * l.jitterMs;
    if (l.loss > 0 && random() < l.loss) delay += l.rtoMs ?? 1000;
    const at = Math.max(lastRelease, now + delay);
    lastRelease = at;
    queue.push({ at, act });
    if (timer === null) pump();
  };
  from.on('data', (chunk: Buffer) => release(() => !to.destroyed && to.write(chunk)));
  from.on('end', () => release(() => to.end()));
}

export async function startLinkProxy(o: { listenHost: string; targetHost: string; targetPort: number; random?: () => number }): Promise<LinkProxy> {
  let link: LinkShape = CLEAR_LINK;
  const random = o.random ?? Math.random;
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = new Socket({ allowHalfOpen: true });
    sockets.add(client).add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    upstream.connect(o.targetPort, o.targetHost);
    // Bytes written before the upstream connects are buffered by the socket.
    delayedPipe(client, upstream, () => link, random);
    delayedPipe(upstream, client, () => link, random);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, o.listenHost, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected proxy address');
  return {
    address: `${o.listenHost}:${address.port}`,
    port: address.port,
    shape(next) {
      link = next;
    },
    get current() {
      return link;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
