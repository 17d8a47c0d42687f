/**
 * The agent's HTTP client for its peers' REST APIs (`GET /patroni` probes, `POST /failsafe`), on
 * node:http / node:https directly rather than the global `fetch`.
 *
 * Why not `fetch`: Node's fetch is undici, loaded on first use, and undici parses HTTP with an
 * llhttp WebAssembly module. That costs several MB of resident memory in an agent whose whole
 * budget is Patroni's ~60 MB, and it cannot run at all under V8's `--lite-mode` (no WebAssembly).
 * node:http is already loaded for our own REST server.
 *
 * Every request uses a fresh connection: a probe decides whether a member counts as reachable in
 * a leader race, and a pooled socket the peer has just closed would turn into a spurious
 * "unreachable". Loopback and LAN connects are cheap next to that risk.
 *
 * TLS follows `restClientTls` (ha-engine rest-client-tls.ts): the `ctl` client certificate, the
 * `ctl.cacert` / `restapi.cafile` CA. The files are read and the key decrypted once, when the
 * client is made, so a wrong path or password stops the agent at start; a TLS failure of a call
 * is rejected with a sentence naming the setting to change (`tlsFailureHint`).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import { restClientTls, tlsFailureHint, type PeerFetch, type RestClientTls } from '@pgha/ha-engine';

/** Answers larger than this are cut off: a member's `/patroni` is a few hundred bytes. */
const MAX_BODY_BYTES = 1024 * 1024;
/**
 * All answers being read at once, together: with MAX_PARALLEL_PEER_REQUESTS members answering
 * the largest body each (bogus member keys can point anywhere), 16 MiB of a 128 MiB heap. An
 * answer that would pass this fails as too large; its member counts as unreachable.
 */
export const MAX_BUFFERED_PEER_BYTES = 8 * 1024 * 1024;

export interface PeerHttpOptions {
  /** How https peers are called; without it, verified against Node's public roots, no client certificate. */
  tls?: RestClientTls;
  /** Reads the files `tls` names (default: readFileSync). */
  readFile?: (path: string) => Buffer;
  /** Bytes of answers buffered at once, all requests together (default MAX_BUFFERED_PEER_BYTES). */
  maxBufferedBytes?: number;
}

/** What node:https passes on to `tls.connect` (its types omit `secureContext`). */
export type PeerTlsOptions = RequestOptions & Pick<ConnectionOptions, 'secureContext'>;

/**
 * The node:https options of `tls`, the files read and the key decrypted now. Throws, naming the
 * setting, when a file cannot be read or the key does not open.
 */
export function peerTlsOptions(tls: RestClientTls, read: (path: string) => Buffer = readFileSync): PeerTlsOptions {
  const file = (key: string, path: string): Buffer => {
    try {
      return read(path);
    } catch (e) {
      throw new Error(`${key}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  };
  const certKey = tls.cert?.from ?? 'ctl.certfile';
  const keyKey = certKey === 'ctl.certfile' ? 'ctl.keyfile' : 'restapi.keyfile';
  const material = {
    ...(tls.ca ? { ca: file(tls.ca.from, tls.ca.file) } : {}),
    ...(tls.cert
      ? { cert: file(certKey, tls.cert.certfile), key: file(keyKey, tls.cert.keyfile), ...(tls.cert.passphrase !== undefined ? { passphrase: tls.cert.passphrase } : {}) }
      : {}),
  };
  let secureContext;
  try {
    secureContext = createSecureContext(material);
  } catch (e) {
    const hint = tlsFailureHint(e, { tls, host: 'this member', handshakeDone: false });
    throw new Error(`${certKey}: cannot use the client certificate ${tls.cert?.certfile ?? ''} with ${tls.cert?.keyfile ?? ''}: ${hint ?? (e as Error).message}`, { cause: e });
  }
  return {
    secureContext,
    rejectUnauthorized: tls.verify !== 'none',
    // `chain`: signed by the configured CA is enough, as Patroni's members check each other.
    ...(tls.verify === 'chain' ? { checkServerIdentity: () => undefined } : {}),
  };
}

export function createPeerHttp(options: PeerHttpOptions = {}): PeerFetch {
  const budget = options.maxBufferedBytes ?? MAX_BUFFERED_PEER_BYTES;
  const tls = options.tls ?? restClientTls({ client: 'agent' });
  const tlsOptions = peerTlsOptions(tls, options.readFile);
  let buffered = 0;
  return (url, init) =>
    new Promise((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        reject(new Error(`not a URL: ${url}`));
        return;
      }
      const https = target.protocol === 'https:';
      if (!https && target.protocol !== 'http:') {
        reject(new Error(`unsupported protocol ${target.protocol} in ${url}`));
        return;
      }
      const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
      const headers: Record<string, string> = { ...(init.headers ?? {}), connection: 'close' };
      if (body) headers['content-length'] = String(body.length);
      const send = https ? httpsRequest : httpRequest;
      const req = send(target, {
        method: init.method ?? 'GET',
        headers,
        agent: false,
        signal: init.signal,
        ...(https ? tlsOptions : {}),
      });
      let handshakeDone = false;
      if (https) req.once('socket', (socket) => socket.once('secureConnect', () => (handshakeDone = true)));
      req.once('error', (e) => {
        const hint = https ? tlsFailureHint(e, { tls, host: target.host, handshakeDone }) : null;
        reject(hint ? new Error(hint, { cause: e }) : e);
      });
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        // What this answer holds of the shared budget, given back however it ends.
        const release = () => {
          buffered -= size;
          size = 0;
        };
        res.on('data', (chunk: Buffer) => {
          if (size + chunk.length > MAX_BODY_BYTES) {
            release();
            res.destroy(new Error(`the answer from ${url} is larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          if (buffered + chunk.length > budget) {
            release();
            res.destroy(new Error(`the answer from ${url} would take the answers being read from peers over ${budget} bytes`));
            return;
          }
          size += chunk.length;
          buffered += chunk.length;
          chunks.push(chunk);
        });
        res.once('error', (e) => {
          release();
          reject(e);
        });
        res.once('close', release);
        res.once('end', () => {
          release();
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            text: () => Promise.resolve(text),
            json: () => {
              try {
                return Promise.resolve(JSON.parse(text) as unknown);
              } catch {
                return Promise.reject(new Error(`the answer from ${url} is not JSON (HTTP ${status})`));
              }
            },
          });
        });
      });
      req.end(body);
    });
}
