import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
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
  /** SIGSTOP / SIGCONT: freeze and thaw the server to simulate a hang. */
  freeze(): void;
  thaw(): void;
}

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): ServerProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
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
    freeze: () => void child.kill('SIGSTOP'),
    thaw: () => void child.kill('SIGCONT'),
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
