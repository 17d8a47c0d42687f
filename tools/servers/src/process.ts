import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server process started for a test, with its output kept for error messages. */
export interface ServerProcess {
  readonly child: ChildProcess;
  /** The last lines the process wrote (stdout and stderr), for diagnostics. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  stop(graceMs?: number): Promise<void>;
  /**
   * SIGSTOP / SIGCONT: freeze and thaw the server to simulate a hang. Both return once the kernel
   * reports the process stopped (or running again), and throw if it never does, so a test never
   * goes on believing a server is frozen when it is not.
   */
  freeze(): void;
  thaw(): void;
  /** The process state letter from /proc (R, S, D, T, Z, ...), or null once it is gone. */
  state(): string | null;
}

/** The state letter of a process from /proc/<pid>/stat, or null when there is no such process. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || null;
  } catch {
    return null;
  }
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Waits (blocking, at most `timeoutMs`) until the process's state satisfies `ok`. */
function awaitState(pid: number, ok: (state: string | null) => boolean, what: string, timeoutMs = 2000): void {
  const until = Date.now() + timeoutMs;
  let state = processState(pid);
  while (!ok(state)) {
    if (Date.now() > until) throw new Error(`process ${pid} did not ${what} within ${timeoutMs} ms (state ${state ?? 'gone'})`);
    Atomics.wait(sleepCell, 0, 0, 2);
    state = processState(pid);
  }
}

/**
 * Starts a server in a session of its own (`detached`), so that signals meant for the test
 * runner's process group never reach it: the kernel sends SIGHUP and SIGCONT to a whole process
 * group when it becomes orphaned while one of its members is stopped, which would thaw a frozen
 * server in the middle of a test.
 */
export function startProcess(command: string, args: string[], options: SpawnOptions = {}): ServerProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  // Out of our process group, the server no longer dies with us on Ctrl-C or a crash of the
  // test worker; kill whatever is still running when this process exits.
  live.add(child);
  child.once('exit', () => live.delete(child));
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n'));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      lines.push(`spawn error: ${err.message}`);
      resolve(null);
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    exited,
    output: () => lines.join('\n'),
    async stop(graceMs = 5000) {
      if (!alive()) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    freeze() {
      if (!alive() || child.pid === undefined) throw new Error('cannot freeze a process that has exited');
      child.kill('SIGSTOP');
      awaitState(child.pid, (s) => s === 'T', 'stop');
    },
    thaw() {
      if (!alive() || child.pid === undefined) return;
      child.kill('SIGCONT');
      awaitState(child.pid, (s) => s !== 'T', 'continue');
    },
    state: () => (alive() && child.pid !== undefined ? processState(child.pid) : null),
  };
}

/** A fresh temporary directory under the OS temp dir, and its remover. */
export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `pgha-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `probe` until it resolves true or `timeoutMs` passes; throws `what` on timeout. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000, intervalMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < until) {
    try {
      if (await probe()) return;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
