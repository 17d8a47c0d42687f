/**
 * Load against a REST API, for the flood bench and its e2e: `wrk` flooding a URL, a client that
 * sends a management request's body a byte a second, and one operator call from a chosen
 * loopback address (another "host" than the flood's 127.0.0.1).
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface BasicAuth {
  username: string;
  password: string;
}

/** Runs `wrk` against `url`; resolves with its requests/s. Needs wrk (Debian package `wrk`). */
export function runWrk(url: string, o: { threads: number; connections: number; seconds: number }): Promise<number> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, url];
  return new Promise((resolve, reject) =>
    execFile('wrk', args, { timeout: (o.seconds + 60) * 1000 }, (err, stdout) =>
      err ? reject(new Error(`wrk: ${err.message}`)) : resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN)),
    ),
  );
}

/** Sends the headers of a `PATCH /config` and then its body a byte a second, until destroyed. */
export function slowBodyClient(host: string, port: number, auth?: BasicAuth): Socket {
  const socket = connect({ host, port });
  socket.on('error', () => {});
  const authorization = auth ? `Authorization: Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}\r\n` : '';
  socket.write(`PATCH /config HTTP/1.1\r\nHost: ${host}\r\n${authorization}Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n{`);
  const drip = setInterval(() => socket.write(' '), 1000);
  socket.on('close', () => clearInterval(drip));
  return socket;
}

/** An operator call's outcome: the status, or 0 and why there was no answer. */
export interface CallOutcome {
  status: number;
  error?: string;
}

/**
 * One `PATCH /config` that changes nothing (it deletes a key nobody sets), sent from
 * `localAddress`; status 0 when there was no answer within 5 s or the connection failed.
 */
export function operatorPatch(host: string, port: number, localAddress: string, auth?: BasicAuth): Promise<CallOutcome> {
  const body = JSON.stringify({ pgha_load_probe: null });
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        localAddress,
        method: 'PATCH',
        path: '/config',
        ...(auth ? { auth: `${auth.username}:${auth.password}` } : {}),
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        timeout: 5000,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
    req.end(body);
  });
}
