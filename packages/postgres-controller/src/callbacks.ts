/**
 * User scripts: the asynchronous callbacks (`on_start`, `on_stop`, `on_restart`, `on_reload`,
 * `on_role_change`, called as `<cmd> <action> <role> <scope>`) and the synchronous hooks
 * (`pre_promote`, `before_stop`) that gate an action.
 */
import type { Logger } from './logger.js';
import type { ProcessRunner, RunResult } from './process-runner.js';
import type { RunAs } from './files.js';

export const CALLBACK_ACTIONS = ['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'] as const;
export type CallbackAction = (typeof CALLBACK_ACTIONS)[number];

/**
 * Splits a command line the way a POSIX shell would for words and quotes (no expansion):
 * `"/opt/my script.sh" --flag 'a b'` gives three words.
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else current += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < command.length && '"\\$`'.includes(command[i + 1]!)) current += command[++i];
      else current += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < command.length) {
      current += command[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

export interface ScriptContext {
  runner: ProcessRunner;
  logger: Logger;
  runAs: RunAs | undefined;
  env?: Record<string, string | undefined>;
}

/** Runs a user script to completion with a deadline, logging its output. */
export async function runScript(
  ctx: ScriptContext,
  what: string,
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<RunResult> {
  const [program, ...fixedArgs] = splitCommand(command);
  if (program === undefined) throw new Error(`${what}: empty command`);
  ctx.logger.info({ script: what, command: program, args: [...fixedArgs, ...args] }, `running ${what}`);
  return ctx.runner.run(program, [...fixedArgs, ...args], {
    uid: ctx.runAs?.uid,
    gid: ctx.runAs?.gid,
    env: ctx.env,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    onLine: (line, stream) => ctx.logger.info({ script: what, stream }, line),
  });
}

/** One-line description of a finished script run, for logs and errors. */
export function describeRun(result: RunResult): string {
  if (result.timedOut) return 'timed out';
  if (result.aborted) return 'was cancelled';
  if (result.signal) return `was killed by ${result.signal}`;
  return `exited with code ${result.code}`;
}

/**
 * Fires callbacks without waiting for them. As in Patroni, a callback still running when the
 * next one fires is cancelled: callbacks report the latest state, and a hung script must not pile
 * up processes.
 */
export class CallbackExecutor {
  private running: AbortController | undefined;
  private pending: Promise<void> = Promise.resolve();

  private readonly ctx: ScriptContext;
  private readonly commands: () => Partial<Record<CallbackAction, string | undefined>>;
  private readonly scope: string;
  private readonly timeoutMs: number;

  constructor(ctx: ScriptContext, commands: () => Partial<Record<CallbackAction, string | undefined>>, scope: string, timeoutMs: number) {
    this.ctx = ctx;
    this.commands = commands;
    this.scope = scope;
    this.timeoutMs = timeoutMs;
  }

  /** Starts `<cmd> <action> <role> <scope>` in the background when a command is configured. */
  fire(action: CallbackAction, role: string): void {
    const command = this.commands()[action];
    if (!command) return;
    this.running?.abort();
    const controller = new AbortController();
    this.running = controller;
    this.pending = runScript(this.ctx, action, command, [action, role, this.scope], { timeoutMs: this.timeoutMs, signal: controller.signal })
      .then((result) => {
        if (result.code !== 0) this.ctx.logger.warn({ callback: action, output: result.output }, `callback ${action} ${describeRun(result)}`);
      })
      .catch((e: unknown) => this.ctx.logger.error({ callback: action, err: String(e) }, `callback ${action} could not be started`))
      .finally(() => {
        if (this.running === controller) this.running = undefined;
      });
  }

  /** Resolves when the latest callback has finished (for tests and clean shutdown). */
  idle(): Promise<void> {
    return this.pending;
  }

  /** Cancels a running callback. */
  cancel(): void {
    this.running?.abort();
  }
}
