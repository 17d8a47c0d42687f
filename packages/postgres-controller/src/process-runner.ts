/**
 * The process port: every external command the controller runs (initdb, pg_basebackup, pg_rewind,
 * the postmaster itself, scripts and callbacks) goes through one `ProcessRunner`, so tests and the
 * agent can observe, restrict or replace it. Passwords never go into `args`: callers pass them
 * through a password file named in `env` (PGPASSFILE) or a file argument.
 */
import { readFileSync } from 'node:fs';
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';

// Node runs a timer longer than 2^31 - 1 ms after 1 ms: a huge configured timeout must not kill at once.
// `sleep` waits `ms`; the controller's polls (a postmaster starting or exiting, a promotion, a reload) use it.
import { MAX_TIMER_MS, sleep } from '@pgha/primitives';

export { MAX_TIMER_MS, sleep };

/** The last `n` lines of a command's output: what an error message or log line quotes of it. */
export function lastLines(output: string, n = 8): string {
  return output.split('\n').slice(-n).join('\n');
}

/** Which stream a line of output came from. */
export type OutputStream = 'stdout' | 'stderr';

export interface RunOptions {
  /** Run as this user / group (needs root). Omitted: the agent's own user. */
  uid?: number;
  gid?: number;
  /** Variables set over the agent's environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /**
   * Deadline in milliseconds. When it passes the process group gets SIGTERM, then SIGKILL after a
   * short grace, and the result has `timedOut: true`. Required: nothing may run unbounded.
   */
  timeoutMs: number;
  /** Cancels the command the same way as the timeout does; the result has `aborted: true`. */
  signal?: AbortSignal;
  /** Called for every output line (split on `\n` and `\r`, so progress meters give lines too). */
  onLine?: (line: string, stream: OutputStream) => void;
  /** Written to the process's stdin, which is then closed. Without it stdin is /dev/null. */
  stdin?: string;
}

export interface RunResult {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of stdout and stderr interleaved, for error messages. */
  output: string;
  timedOut: boolean;
  aborted: boolean;
}

export interface SpawnOptions {
  uid?: number;
  gid?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  onLine?: (line: string, stream: OutputStream) => void;
}

/** A long-running process (the postmaster) started through the port. */
export interface RunningProcess {
  readonly pid: number;
  /** Resolves once the process has exited, the moment the OS reports it. Never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of its output. */
  output(): string;
  /** Sends `signal` to the process, or to its whole process group with `group: true`. */
  kill(signal: NodeJS.Signals, options?: { group?: boolean }): void;
}

/** Runs external programs. Implementations must honour every deadline and cancellation. */
export interface ProcessRunner {
  /**
   * Runs `command` to completion. Resolves with the exit status whatever it is (non-zero,
   * killed, timed out); rejects only when the program could not be started at all, with the
   * Node error (`code` ENOENT, EACCES, ...).
   */
  run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult>;
  /**
   * Starts a long-running process in its own session (so it outlives the agent and a terminal's
   * Ctrl-C does not reach it). Resolves once the process exists; rejects like `run` when it
   * cannot be started.
   */
  spawn(command: string, args: readonly string[], options: SpawnOptions): Promise<RunningProcess>;
  /**
   * Sends `signal` to the process `pid`, or with `group: true` to the process group it leads: how
   * the controller stops, reloads and kills a postmaster it did not start (an adopted one has no
   * `RunningProcess`). Returns false when it could not be delivered (no such process, or not
   * permitted); never throws.
   */
  signal(pid: number, signal: NodeJS.Signals, options?: { group?: boolean }): boolean;
}

const keptLines = 60;
const killGraceMs = 3000;

/** Splits a byte stream into lines, calling `emit` for each complete one (and the rest on end). */
function lineSplitter(emit: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      const parts = (rest + chunk.toString('utf8')).split(/\r\n|\r|\n/);
      rest = parts.pop() ?? '';
      for (const p of parts) if (p.length > 0) emit(p);
    },
    end() {
      if (rest.length > 0) emit(rest);
      rest = '';
    },
  };
}

const homes = new Map<number, string | undefined>();

/** The home directory /etc/passwd gives `uid` (cached), or undefined. */
function homeOf(uid: number): string | undefined {
  if (!homes.has(uid)) {
    let home: string | undefined;
    try {
      const line = readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((l) => l.split(':')[2] === String(uid));
      home = line?.split(':')[5] || undefined;
    } catch {
      home = undefined;
    }
    homes.set(uid, home);
  }
  return homes.get(uid);
}

/**
 * The agent's environment with `env` over it. A child run as another user gets that user's HOME:
 * libpq reads ~/.postgresql/ (client certificates, root.crt) and fails on a HOME it cannot enter.
 */
function mergedEnv(env: Record<string, string | undefined> | undefined, uid?: number): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...process.env };
  if (uid !== undefined && uid !== process.getuid?.()) {
    const home = homeOf(uid);
    if (home !== undefined) result.HOME = home;
  }
  for (const [k, v] of Object.entries(env ?? {})) {
    if (v === undefined) delete result[k];
    else result[k] = v;
  }
  return result;
}

function attachOutput(child: ChildProcess, onLine: SpawnOptions['onLine']): { output(): string; flush(): void } {
  const lines: string[] = [];
  const keep = (stream: OutputStream) => (line: string) => {
    lines.push(line);
    if (lines.length > keptLines) lines.splice(0, lines.length - keptLines);
    onLine?.(line, stream);
  };
  const out = lineSplitter(keep('stdout'));
  const err = lineSplitter(keep('stderr'));
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  return {
    output: () => lines.join('\n'),
    flush() {
      out.end();
      err.end();
    },
  };
}

/** Waits for the 'spawn' or 'error' event: Node reports ENOENT asynchronously. */
function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone (or the child never became a group leader): signal it alone.
    child.kill(signal);
  }
}

/** The Node implementation of the process port (`child_process.spawn`, no shell). */
export function createNodeProcessRunner(): ProcessRunner {
  return {
    async run(command, args, options) {
      const child = spawnChild(command, args, {
        cwd: options.cwd,
        env: mergedEnv(options.env, options.uid),
        uid: options.uid,
        gid: options.gid,
        detached: true,
        stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      const output = attachOutput(child, options.onLine);
      // 'exit' rather than 'close': a script may leave a daemon holding its stdout open. Give the
      // pipes a moment to drain after the exit so the last lines are kept.
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => {
          const drained = setTimeout(() => resolve({ code, signal }), 500);
          child.once('close', () => {
            clearTimeout(drained);
            resolve({ code, signal });
          });
        });
      });
      await started(child);
      if (options.stdin !== undefined) {
        child.stdin?.on('error', () => {}); // the program may exit without reading its input
        child.stdin?.end(options.stdin);
      }
      let timedOut = false;
      let aborted = false;
      let killTimer: NodeJS.Timeout | undefined;
      const terminate = () => {
        signalGroup(child, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), killGraceMs);
      };
      const deadline = setTimeout(() => {
        timedOut = true;
        terminate();
      }, Math.min(options.timeoutMs, MAX_TIMER_MS));
      const onAbort = () => {
        aborted = true;
        terminate();
      };
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      const { code, signal } = await closed;
      clearTimeout(deadline);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      output.flush();
      return { code, signal, output: output.output(), timedOut, aborted };
    },

    async spawn(command, args, options) {
      const child = spawnChild(command, args, {
        cwd: options.cwd,
        env: mergedEnv(options.env, options.uid),
        uid: options.uid,
        gid: options.gid,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = attachOutput(child, options.onLine);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => {
          output.flush();
          resolve({ code, signal });
        });
      });
      await started(child);
      const pid = child.pid!;
      return {
        pid,
        exited,
        output: output.output,
        kill(signal, opts) {
          if (opts?.group) signalGroup(child, signal);
          else child.kill(signal);
        },
      };
    },

    signal(pid, signal, options) {
      try {
        process.kill(options?.group ? -pid : pid, signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}
