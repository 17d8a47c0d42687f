/**
 * systemd's notify protocol (sd_notify(3)) for `Type=notify` / `Type=notify-reload` units:
 * `READY=1` once the agent serves its API and has joined the cluster, `RELOADING=1` and
 * `READY=1` around a SIGHUP reload (as Patroni 4.1), `STOPPING=1` on shutdown, `STATUS=` lines,
 * and `WATCHDOG=1` pings when the unit sets `WatchdogSec`.
 *
 * Node has no Unix datagram sockets; unix-dgram (a small native addon) provides them. It cannot
 * reach an abstract socket (`@name`): systemd uses a path (/run/systemd/notify) for services, so
 * an abstract one is reported and the notifications are skipped rather than failing the start.
 */
import { createRequire } from 'node:module';

export interface SystemdNotifier {
  ready(status: string): void;
  reloading(): void;
  stopping(): void;
  status(text: string): void;
  /** Stops the watchdog pings and closes the socket. */
  close(): void;
}

export interface NotifyEnvironment {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
}

/** The datagrams, as systemd reads them: `KEY=value` lines. */
export const notifyMessages = {
  ready: (status: string) => `READY=1\nSTATUS=${oneLine(status)}\nMAINPID=${process.pid}`,
  // Type=notify-reload wants the CLOCK_MONOTONIC time of the reload's start with RELOADING=1;
  // process.hrtime reads that clock on Linux.
  reloading: (monotonicUsec: bigint) => `RELOADING=1\nMONOTONIC_USEC=${monotonicUsec}`,
  stopping: () => 'STOPPING=1',
  status: (text: string) => `STATUS=${oneLine(text)}`,
  watchdog: () => 'WATCHDOG=1',
};

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** The watchdog interval to ping at (half of WatchdogSec, as sd_watchdog_enabled advises), or null. */
export function watchdogPingMs(env: NotifyEnvironment, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (e?: Error) => void): void;
  close(): void;
}

/**
 * A notifier for `NOTIFY_SOCKET`, or null when systemd did not start us with one. `warn` hears of
 * problems (an abstract socket, a failed send); none stops the agent.
 */
export function systemdNotifier(env: NotifyEnvironment, warn: (message: string) => void): SystemdNotifier | null {
  const path = env.NOTIFY_SOCKET;
  if (!path) return null;
  if (path.startsWith('@')) {
    warn(`NOTIFY_SOCKET ${path} is an abstract socket, which pgha cannot reach: no systemd notifications`);
    return null;
  }
  let socket: DgramSocket;
  try {
    // Loaded only under systemd: the addon stays out of every other start.
    const { createSocket } = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
    socket = createSocket('unix_dgram');
  } catch (e) {
    warn(`cannot open a socket to NOTIFY_SOCKET (${(e as Error).message}): no systemd notifications`);
    return null;
  }
  const send = (text: string) => {
    const buf = Buffer.from(text);
    socket.send(buf, 0, buf.length, path, (e) => {
      if (e) warn(`systemd notification failed (${e.message}): ${text.split('\n')[0]}`);
    });
  };
  const pingMs = watchdogPingMs(env);
  // The pings prove that the agent's event loop runs. They do not wait for HA cycles to succeed:
  // a DCS outage is no reason for systemd to restart the agent (that would stop PostgreSQL).
  const pinger = pingMs === null ? null : setInterval(() => send(notifyMessages.watchdog()), pingMs);
  pinger?.unref();
  return {
    ready: (status) => send(notifyMessages.ready(status)),
    reloading: () => send(notifyMessages.reloading(process.hrtime.bigint() / 1000n)),
    stopping: () => send(notifyMessages.stopping()),
    status: (text) => send(notifyMessages.status(text)),
    close() {
      if (pinger) clearInterval(pinger);
      try {
        socket.close();
      } catch {
        // Already closed: nothing to release.
      }
    },
  };
}
