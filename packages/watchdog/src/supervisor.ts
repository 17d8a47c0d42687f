/**
 * The supervisor of the testing device: what a kernel watchdog does, for a test. It reads the
 * FIFO the agent's `testing` driver writes to (Patroni's protocol: `Ctimeout=N\n`, `1`, `V`) and,
 * when an armed device sees no keepalive for its timeout, fires: by default it SIGKILLs the
 * node's PostgreSQL (the postmaster named in `postmaster.pid` and its children), which is the
 * part of a machine reset a test can observe.
 *
 * It runs in the test harness, never in the agent. The FIFO is opened read-write so it never
 * sees end-of-file: an agent that dies without the magic close leaves the device armed, as the
 * kernel does.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';

export type SupervisorEvent =
  | { kind: 'timeout'; seconds: number; at: number }
  | { kind: 'disarm'; at: number }
  | { kind: 'fired'; at: number; lastKeepaliveAt: number; timeout: number; detail: string };

export interface TestingSupervisorOptions {
  /** The FIFO path (created, mode 0666, when missing). */
  fifo: string;
  /** What firing does; returns a description for the event log. */
  onFire: () => string | Promise<string>;
  /** Timeout (seconds) when keepalives arrive before any `Ctimeout` (Patroni's default 60). */
  defaultTimeout?: number;
  /** Monotonic ms. */
  now?: () => number;
}

export interface TestingSupervisor {
  readonly fifo: string;
  /** Armed: a device is open and counting down. */
  readonly armed: boolean;
  readonly keepalives: number;
  readonly events: readonly SupervisorEvent[];
  /** Resolves with the next `fired` event. */
  nextFire(): Promise<Extract<SupervisorEvent, { kind: 'fired' }>>;
  stop(): void;
}

export function superviseTestingDevice(options: TestingSupervisorOptions): TestingSupervisor {
  const now = options.now ?? (() => performance.now());
  if (!existsSync(options.fifo)) execFileSync('mkfifo', [options.fifo]);
  // The agent runs as another user than the harness.
  chmodSync(options.fifo, 0o666);
  const fd = openSync(options.fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });

  const events: SupervisorEvent[] = [];
  const waiters: ((e: Extract<SupervisorEvent, { kind: 'fired' }>) => void)[] = [];
  let timeout = options.defaultTimeout ?? 60;
  let armed = false;
  let lastKeepaliveAt = 0;
  let keepalives = 0;
  let timer: NodeJS.Timeout | null = null;
  let buffer = '';
  let stopped = false;

  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!armed || stopped) return;
    const due = lastKeepaliveAt + timeout * 1000 - now();
    timer = setTimeout(check, Math.max(0, due));
  };
  const check = (): void => {
    timer = null;
    if (!armed || stopped) return;
    if (now() - lastKeepaliveAt < timeout * 1000) return schedule();
    armed = false;
    const at = now();
    void Promise.resolve()
      .then(options.onFire)
      .catch((e: unknown) => `firing failed: ${(e as Error).message}`)
      .then((detail) => {
        const event = { kind: 'fired' as const, at, lastKeepaliveAt, timeout, detail };
        events.push(event);
        for (const w of waiters.splice(0)) w(event);
      });
  };
  const kick = (): void => {
    lastKeepaliveAt = now();
    armed = true;
    schedule();
  };

  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    while (buffer.length > 0) {
      if (buffer.startsWith('C')) {
        const end = buffer.indexOf('\n');
        if (end < 0) return;
        const m = /^Ctimeout=(\d+)$/.exec(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
        if (m) {
          timeout = Number(m[1]);
          events.push({ kind: 'timeout', seconds: timeout, at: now() });
          kick();
        }
        continue;
      }
      const c = buffer[0];
      buffer = buffer.slice(1);
      if (c === 'V') {
        armed = false;
        schedule();
        events.push({ kind: 'disarm', at: now() });
      } else if (c !== '\n') {
        keepalives++;
        kick();
      }
    }
  });
  socket.on('error', () => {});

  return {
    fifo: options.fifo,
    get armed() {
      return armed;
    },
    get keepalives() {
      return keepalives;
    },
    events,
    nextFire: () => new Promise((resolve) => waiters.push(resolve)),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      socket.destroy();
      try {
        closeSync(fd);
      } catch {
        // already closed with the socket
      }
    },
  };
}

/**
 * SIGKILLs the postmaster of `dataDir` and every process it started (as a machine reset would
 * end them all at once). Returns what it killed, for the event log.
 */
export function killPostgres(dataDir: string): string {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return `no postmaster.pid in ${dataDir}`;
  }
  if (!(pid > 0)) return `no postmaster pid in ${dataDir}`;
  // A stale postmaster.pid may name a pid since reused by another process: only a postgres
  // running on this data directory is killed.
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return `postmaster ${pid} was not running`;
  }
  if (!cmdline.includes('postgres') || !cmdline.includes(dataDir)) return `pid ${pid} is not the postmaster of ${dataDir}`;
  const children = childrenOf(pid);
  const killed: number[] = [];
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
      killed.push(p);
    } catch {
      // already gone
    }
  }
  return killed.length > 0 ? `killed postmaster ${pid} and ${killed.length - 1} children` : `postmaster ${pid} was not running`;
}

/** The pids whose parent is `parent` (a postmaster's backends and helpers), from /proc. */
export function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command, which may itself hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
