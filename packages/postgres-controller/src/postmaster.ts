/**
 * The postmaster process: starting it, adopting one a previous agent left running (from
 * postmaster.pid), watching it exit, stopping, fencing, killing and reloading it. Every signal
 * goes through the process port (`runner.signal`), so an adopted postmaster, which has no
 * RunningProcess, is handled like one we started. Lifecycle locking is the caller's
 * (ControllerState.exclusive); fencing deliberately runs without it.
 */
import type { ControllerContext } from './controller-context.js';
import type { PostmasterExit, StopMode } from './contract.js';
import { describeRun, runScript, type CallbackAction } from './callbacks.js';
import type { ConfigWriter } from './config-writer.js';
import { PostgresError, PostgresErrorCode, describeError, throwIfAborted } from './errors.js';
import { inspectDataDirectoryPath } from './files.js';
import { commandLineArguments } from './parameters.js';
import { childProcesses, isPostgresProcess, processAlive, processGroup, readPostmasterPid } from './postmaster-pid.js';
import { MAX_TIMER_MS, lastLines, sleep, type RunningProcess } from './process-runner.js';
import type { Programs } from './programs.js';

const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

/** One postmaster this controller tracks. */
export interface PostmasterProcess {
  pid: number;
  /** Present when this controller started it. */
  child?: RunningProcess;
  poll?: NodeJS.Timeout;
}

export interface StartOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Fired once it accepts connections; null for a start inside a larger action. */
  callback: CallbackAction | null;
  /** A one-off archive recovery instead of the role's settings (custom bootstrap; see ConfigWriter.write). */
  recovery?: Record<string, string>;
}

export interface StopOptions {
  mode?: StopMode | undefined;
  /** CHECKPOINT first, so the shutdown checkpoint is short (not with `immediate`). */
  checkpoint?: boolean | undefined;
  timeoutMs?: number | undefined;
  /** Fired once it is gone; null for a stop inside a larger action. */
  callback: CallbackAction | null;
}

export class Postmaster {
  private readonly ctx: ControllerContext;
  private readonly programs: Programs;
  private readonly config: ConfigWriter;
  private readonly exitListeners = new Set<(exit: PostmasterExit) => void>();
  private tracked: PostmasterProcess | null = null;
  /** True while we stop it: its exit is then not a crash. */
  private expectingExit = false;

  constructor(ctx: ControllerContext, programs: Programs, config: ConfigWriter) {
    this.ctx = ctx;
    this.programs = programs;
    this.config = config;
  }

  /** The postmaster started or adopted, while it runs. */
  get current(): PostmasterProcess | null {
    return this.tracked;
  }

  onExit(listener: (exit: PostmasterExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  private attach(pm: PostmasterProcess): void {
    this.tracked = pm;
    if (pm.child) {
      void pm.child.exited.then(({ code, signal }) => this.exited(pm, code, signal));
    } else {
      // Not our child: no exit event, so its pid is polled.
      pm.poll = setInterval(() => {
        void processAlive(pm.pid).then((alive) => {
          if (!alive) this.exited(pm, null, null);
        });
      }, this.ctx.settings.timeouts.adoptedPollMs);
      pm.poll.unref();
    }
  }

  private exited(pm: PostmasterProcess, code: number | null, signal: string | null): void {
    if (this.tracked !== pm) return;
    const { state, logger } = this.ctx;
    if (pm.poll) clearInterval(pm.poll);
    this.tracked = null;
    this.ctx.session.close();
    const expected = this.expectingExit;
    if (!expected) {
      state.lifecycle = state.lifecycle === 'starting' ? 'start failed' : 'crashed';
      logger.error({ pid: pm.pid, code, signal, output: pm.child ? lastLines(pm.child.output(), 5) : undefined }, 'postmaster exited unexpectedly');
    }
    for (const listener of this.exitListeners) {
      try {
        listener({ pid: pm.pid, code, signal, expected });
      } catch (e) {
        logger.error({ err: describeError(e) }, 'postmaster exit listener failed');
      }
    }
  }

  /** Takes over a postmaster running on our data directory (postmaster.pid names a live postgres); its pid, or null. */
  async adopt(): Promise<number | null> {
    if (this.tracked) return this.tracked.pid;
    const { settings, state, logger } = this.ctx;
    const pidFile = await readPostmasterPid(settings.dataDir);
    if (!pidFile || !(await processAlive(pidFile.pid)) || !(await isPostgresProcess(pidFile.pid))) return null;
    this.attach({ pid: pidFile.pid });
    state.lifecycle = pidFile.status === 'ready' || pidFile.status === 'standby' ? 'running' : pidFile.status === 'stopping' ? 'stopping' : 'starting';
    state.role = (await this.config.standbyConfigured()) ? 'replica' : 'primary';
    state.upstream = state.role === 'replica' ? await this.config.configuredUpstream() : null;
    await this.config.assumeWritten();
    logger.info({ pid: pidFile.pid, status: pidFile.status, upstream: state.upstream }, 'adopted a running postmaster');
    return pidFile.pid;
  }

  /** The tracked postmaster, else one adopted from postmaster.pid; null when none runs. */
  private async runningOrAdopted(): Promise<PostmasterProcess | null> {
    return this.tracked ?? ((await this.adopt()) !== null ? this.tracked : null);
  }

  /** Writes the configuration for the current role and starts the postmaster; resolves once it accepts connections. */
  async start(opts: StartOptions): Promise<void> {
    const { settings, state, runner, logger, runAs } = this.ctx;
    throwIfAborted(opts.signal, 'start');
    const kind = await inspectDataDirectoryPath(settings.dataDir, runAs);
    if (kind !== 'initialized') {
      throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot start PostgreSQL: data directory postgresql.data_dir (${settings.dataDir}) is ${kind}`);
    }
    if (this.tracked || (await this.adopt()) !== null) {
      logger.info({ pid: this.tracked?.pid }, 'postmaster already running');
      return;
    }
    const { params } = await this.config.write(opts.recovery ? { recovery: opts.recovery } : {});
    const args = ['-D', settings.dataDir, `--config-file=${settings.confPath}`, ...commandLineArguments(params.commandLine)];
    state.lifecycle = 'starting';
    this.expectingExit = false;
    let child: RunningProcess;
    try {
      child = await runner.spawn(settings.binary('postgres'), args, {
        uid: runAs?.uid,
        gid: runAs?.gid,
        cwd: settings.dataDir,
        env: { PGPASSFILE: settings.pgpassPath },
        onLine: (line) => logger.info({ source: 'postgres' }, line),
      });
    } catch (e) {
      state.lifecycle = 'start failed';
      throw this.programs.notStarted(settings.binary('postgres'), e);
    }
    logger.info({ pid: child.pid, role: state.role }, 'started postmaster');
    this.attach({ pid: child.pid, child });
    await this.waitUntilAccepting(child, opts.timeoutMs ?? settings.pgCtlTimeoutMs, opts.signal);
    state.lifecycle = 'running';
    if (opts.callback) this.ctx.callbacks.fire(opts.callback, this.ctx.callbackRole(state.role));
  }

  private async waitUntilAccepting(child: RunningProcess, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const { settings, state, session } = this.ctx;
    const until = Date.now() + timeoutMs;
    let exited = false;
    void child.exited.then(() => (exited = true));
    while (true) {
      if (exited || this.tracked?.pid !== child.pid) {
        state.lifecycle = 'start failed';
        throw new PostgresError(PostgresErrorCode.StartFailed, `postgres exited while starting (data directory ${settings.dataDir}):\n${lastLines(child.output())}`);
      }
      if (signal?.aborted) {
        // A postmaster must not come up after its start was cancelled.
        await this.stop({ mode: 'immediate', timeoutMs: 10_000, callback: null });
        throwIfAborted(signal, 'start');
      }
      const pidFile = await readPostmasterPid(settings.dataDir);
      if (pidFile?.pid === child.pid && (pidFile.status === 'ready' || pidFile.status === 'standby')) {
        try {
          await session.query('SELECT 1', [], Math.max(1000, Math.min(settings.timeouts.queryMs, until - Date.now())));
          return;
        } catch {
          // not yet accepting (e.g. still consistent-state pending); keep waiting
        }
      }
      if (Date.now() >= until) {
        throw new PostgresError(
          PostgresErrorCode.StartTimeout,
          `PostgreSQL did not accept connections within ${Math.round(timeoutMs / 1000)} s (postgresql.pg_ctl_timeout); it is still starting`,
        );
      }
      await sleep(100);
    }
  }

  /** before_stop, then the mode's signal; SIGKILL of its processes when it outlives the deadline. */
  async stop(opts: StopOptions): Promise<void> {
    const { settings, state, runner, logger } = this.ctx;
    const pm = await this.runningOrAdopted();
    if (!pm) {
      if (state.lifecycle !== 'crashed') state.lifecycle = 'stopped';
      return;
    }
    const mode = opts.mode ?? 'fast';
    if (settings.local.before_stop) {
      const result = await runScript(this.ctx.scriptContext(), 'before_stop', settings.local.before_stop, [], { timeoutMs: settings.timeouts.hookMs }).catch((e: unknown) => {
        logger.error({ err: describeError(e) }, 'before_stop could not be started');
        return null;
      });
      if (result && result.code !== 0) logger.warn({ output: lastLines(result.output) }, `before_stop ${describeRun(result)}; stopping anyway`);
    }
    if (opts.checkpoint && mode !== 'immediate') {
      await this.checkpoint().catch((e: unknown) => logger.warn({ err: describeError(e) }, 'CHECKPOINT before stop failed'));
    }
    state.lifecycle = 'stopping';
    this.expectingExit = true;
    logger.info({ pid: pm.pid, mode }, 'stopping PostgreSQL');
    // False when it is already gone: the exit watcher reports it.
    runner.signal(pm.pid, STOP_SIGNALS[mode]);
    let gone = await this.waitForExit(pm, opts.timeoutMs ?? settings.pgCtlTimeoutMs);
    if (!gone) {
      logger.warn({ pid: pm.pid, mode }, 'PostgreSQL did not stop in time; killing the postmaster and its processes');
      await this.kill(pm.pid);
      gone = await this.waitForExit(pm, 10_000);
    }
    if (!gone) {
      state.lifecycle = 'stop failed';
      this.expectingExit = false;
      throw new PostgresError(PostgresErrorCode.StopFailed, `the postmaster (pid ${pm.pid}) of ${settings.dataDir} did not exit, even after SIGKILL`);
    }
    this.expectingExit = false;
    state.lifecycle = 'stopped';
    if (opts.callback) this.ctx.callbacks.fire(opts.callback, this.ctx.callbackRole(state.role));
  }

  /** See PostgresController.fence (contract.ts): SIGQUIT, then SIGKILL of its group after `graceMs`. */
  async fence(options: { graceMs?: number } = {}): Promise<void> {
    const { settings, state, runner, logger } = this.ctx;
    const pm = await this.runningOrAdopted();
    if (!pm) return;
    this.expectingExit = true;
    state.lifecycle = 'stopping';
    logger.warn({ pid: pm.pid, busy: state.busy }, 'fencing PostgreSQL: immediate shutdown');
    // False when it is already gone: the exit watcher reports it.
    runner.signal(pm.pid, 'SIGQUIT');
    let gone = await this.waitForExit(pm, options.graceMs ?? 2000);
    if (!gone) {
      logger.warn({ pid: pm.pid }, 'PostgreSQL did not stop at once when fenced; killing the postmaster and its processes');
      await this.kill(pm.pid);
      gone = await this.waitForExit(pm, 2000);
    }
    if (!gone) {
      throw new PostgresError(PostgresErrorCode.StopFailed, `fencing: the postmaster (pid ${pm.pid}) of ${settings.dataDir} did not exit, even after SIGKILL`);
    }
    state.lifecycle = 'stopped';
  }

  private async waitForExit(pm: PostmasterProcess, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    if (pm.child) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.min(timeoutMs, MAX_TIMER_MS))));
      const done = await Promise.race([pm.child.exited.then(() => true as const), timedOut]);
      clearTimeout(timer);
      // Let the exit handler (queued on the same promise) run first.
      await sleep(0);
      return done;
    }
    while (Date.now() < until) {
      if (!(await processAlive(pm.pid))) {
        this.exited(pm, null, null);
        return true;
      }
      await sleep(50);
    }
    return false;
  }

  /** SIGKILL the postmaster's process group (it leads one when started by us or pg_ctl), else it and its children. */
  private async kill(pid: number): Promise<void> {
    const { runner } = this.ctx;
    // A process that is already gone is simply not signalled.
    if ((await processGroup(pid)) === pid) {
      runner.signal(pid, 'SIGKILL', { group: true });
      return;
    }
    for (const target of [pid, ...(await childProcesses(pid))]) runner.signal(target, 'SIGKILL');
  }

  /** SIGHUP to `pm`, then wait (bounded) until our session has seen the new configuration. */
  async reload(pm: PostmasterProcess): Promise<void> {
    const { session, runner, logger } = this.ctx;
    const loadTime = async (): Promise<string | undefined> => (await session.query<{ t: string }>('SELECT pg_catalog.pg_conf_load_time()::text AS t'))[0]?.t;
    const before: string | undefined = await loadTime().catch((): undefined => undefined);
    if (!runner.signal(pm.pid, 'SIGHUP')) {
      throw new PostgresError(PostgresErrorCode.NotRunning, `cannot reload: the postmaster (pid ${pm.pid}) is gone`);
    }
    if (before === undefined) return;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      await sleep(50);
      const now: string | undefined = await loadTime().catch((): string | undefined => before);
      if (now !== before) return;
    }
    logger.warn({}, 'PostgreSQL did not report reloading its configuration within 5 s');
  }

  async checkpoint(options: { timeoutMs?: number | undefined } = {}): Promise<void> {
    await this.ctx.session.query('CHECKPOINT', [], options.timeoutMs ?? this.ctx.settings.pgCtlTimeoutMs);
  }

  /** Stops watching an adopted pid (the postmaster itself keeps running). */
  close(): void {
    if (this.tracked?.poll) clearInterval(this.tracked.poll);
  }
}
