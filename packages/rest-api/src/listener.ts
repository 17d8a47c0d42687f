/**
 * The REST API's socket: plain HTTP or HTTPS on `restapi.listen`, and how a reload changes it.
 *
 * New certificates, a new CA or a new `verify_client` apply to the running HTTPS server: the
 * listening socket stays open, connections already made keep the handshake they had, the next
 * ones get the new settings (as Patroni's reload does). Only a change of address, or between
 * HTTP and HTTPS, needs a new socket: it is opened first, and the old one closed only once the
 * new one listens, so a failed change (the port is taken) leaves the API where it was.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** `restapi.certfile` and friends, with the files already read. */
export interface ApiTls {
  cert: string | Buffer;
  key: string | Buffer;
  passphrase?: string;
  ca?: string | Buffer;
  /** `restapi.verify_client`. */
  verifyClient?: 'none' | 'optional' | 'required';
  ciphers?: string;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export type ApiHttpServer = HttpServer | HttpsServer;

/** What a reload did to the socket. */
export type ListenerChange = 'unchanged' | 'tls-updated' | 'reopened';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

function secureContextOptions(tls: ApiTls) {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
  };
}

/**
 * `required` refuses the handshake without a valid client certificate; `optional` lets it
 * through and the unsafe endpoints check it. node's TLS server reads both flags from itself
 * for every new connection, so setting them changes what the next handshake asks.
 */
function clientCertificateFlags(tls: ApiTls) {
  return { requestCert: (tls.verifyClient ?? 'none') !== 'none', rejectUnauthorized: tls.verifyClient === 'required' };
}

function configure(server: ApiHttpServer, onConnection: (socket: Socket) => void): ApiHttpServer {
  // Load balancers keep connections open and poll; keep idle sockets longer than their interval.
  server.keepAliveTimeout = 65_000;
  // A slow or stalled client cannot hold a connection forever.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.maxHeadersCount = 100;
  server.on('connection', onConnection);
  return server;
}

function createSocketServer(tls: ApiTls | undefined, onRequest: RequestListener, onConnection: (socket: Socket) => void): ApiHttpServer {
  const server = tls ? createHttpsServer({ ...secureContextOptions(tls), ...clientCertificateFlags(tls) }, onRequest) : createHttpServer(onRequest);
  return configure(server, onConnection);
}

function listenOn(server: ApiHttpServer, address: ListenAddress): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: a flood that reconnects as fast as it is cut off must not fill it
    // and leave the operator's SYN unanswered (the kernel caps it at net.core.somaxconn).
    server.listen({ port: address.port, host: address.host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: ApiHttpServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface Listener {
  /** The server now answering (replaced when a reload reopens the socket). */
  readonly server: ApiHttpServer;
  readonly tls: boolean;
  listen(): Promise<AddressInfo>;
  /** Applies a reloaded address and TLS; rejects, changing nothing, when the new socket cannot listen. */
  change(address: ListenAddress, tls: ApiTls | undefined): Promise<ListenerChange>;
  close(): Promise<void>;
}

export function createListener(address: ListenAddress, tls: ApiTls | undefined, onRequest: RequestListener, onConnection: (socket: Socket) => void): Listener {
  let current = { server: createSocketServer(tls, onRequest, onConnection), address, tls };
  const sameAddress = (a: ListenAddress, b: ListenAddress) => a.host === b.host && a.port === b.port;
  return {
    get server() {
      return current.server;
    },
    get tls() {
      return current.tls !== undefined;
    },
    async listen() {
      const bound = await listenOn(current.server, current.address);
      // Port 0 asks for any free port: a reload naming the one given is no change of address.
      if (current.address.port === 0) current = { ...current, address: { ...current.address, port: bound.port } };
      return bound;
    },
    async change(nextAddress, nextTls) {
      if (sameAddress(nextAddress, current.address) && (nextTls === undefined) === (current.tls === undefined)) {
        if (!nextTls) return 'unchanged';
        const https = current.server as HttpsServer;
        https.setSecureContext(secureContextOptions(nextTls));
        Object.assign(https, clientCertificateFlags(nextTls));
        current = { ...current, tls: nextTls };
        return 'tls-updated';
      }
      const next = createSocketServer(nextTls, onRequest, onConnection);
      // Same port, other host (or HTTP ↔ HTTPS on the same address): the old socket must go first.
      const reuse = nextAddress.port === current.address.port;
      if (reuse) await closeServer(current.server);
      try {
        await listenOn(next, nextAddress);
      } catch (e) {
        if (reuse) await listenOn(current.server, current.address);
        throw e;
      }
      if (!reuse) await closeServer(current.server);
      current = { server: next, address: nextAddress, tls: nextTls };
      return 'reopened';
    },
    close: () => closeServer(current.server),
  };
}
