/**
 * One ZooKeeper session, held by a child process (`session-process.ts`).
 *
 * Why a child process rather than the addon in the agent's own process:
 * - `zookeeper_close()` of the single-threaded C client blocks its caller for up to 4.5 s while
 *   it tells a (possibly frozen) server; the agent's event loop times the leader hold and pets
 *   the watchdog, so it must never block like that.
 * - The addon can abort the whole process (`Assertion loop->watchers[w->fd] == w`,
 *   node-zookeeper #262/#238), which no JS handler can catch. In a child it costs one session;
 *   the driver sees the child exit, counts the session as lost and starts a new one.
 * - A hung native client (or a stopped child) is detectable from outside: the child answers IPC
 *   pings from its own event loop, and the parent kills it once it has been silent for longer
 *   than the session timeout (by then the server has expired, or will expire, the session).
 * The cost is one small Node process per agent and an IPC hop per call (about 1 ms on a busy
 * two-core machine, measured against the addon called in-process).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timerDelay, type MonotonicClock } from '@pgha/dcs';
import type * as TypeScript from 'typescript';
import type { ChildMessage, ParentMessage, Reply, Request } from './protocol.js';

/** Node flags of the session child process (see where it is forked). */
const SESSION_CHILD_NODE_FLAGS = ['--max-semi-space-size=1', '--single-threaded', '--optimize-for-size', '--no-opt'];

export type SessionState = 'starting' | 'connected' | 'connecting' | 'ended';

/** Why a session ended. */
export type SessionEnd =
  /** The handle closed: -112 expired, -113 auth failed, 0 closed on request. */
  | { kind: 'closed'; code: number }
  /** The child process died (crash, abort, killed by someone else). */
  | { kind: 'exited'; code: number | null; signal: string | null; error?: string }
  /** The child stopped answering pings for longer than the session timeout; it was killed. */
  | { kind: 'unresponsive'; silentMs: number }
  /** `end()` was called. */
  | { kind: 'requested' };

/** The outcome of one call: a reply (with the parent's send time), a deadline hit, or the session ended first. */
export type CallResult = { kind: 'reply'; reply: Reply; sentAt: number } | { kind: 'timeout' } | { kind: 'ended' };

export interface SessionEvents {
  /** Connected; `first` is true for the session's first connection, false after a reconnect. */
  connected(first: boolean): void;
  /** The connection was lost; the client retries the hosts while the session may still live. */
  connecting(): void;
  /** A watch registered with `{ op: 'watch' }` fired (never called for session events). */
  fired(path: string, type: number): void;
  ended(end: SessionEnd): void;
  log(level: 'debug' | 'warn' | 'error', message: string): void;
}

export interface SessionOptions {
  connect: string;
  /** Requested session timeout in ms. */
  timeoutMs: number;
  auth: Array<[string, string]>;
  clock: MonotonicClock;
  events: SessionEvents;
}

interface Pending {
  resolve(result: CallResult): void;
  sentAt: number;
  timer: NodeJS.Timeout | undefined;
}

const PING_ID = 0;

/** Where the `zookeeper` package is, as this package resolves it. */
function zookeeperModule(): string {
  return createRequire(import.meta.url).resolve('zookeeper');
}

let sourceBuild: string | undefined;

/**
 * Tests and typecheck run this package from its TypeScript sources (the `@pgha/source` export
 * condition), and Node 20 cannot run `.ts`. Rather than start every child under a TS loader
 * (tsx roughly doubles a child's start-up), the two child files are transpiled once into a
 * directory of the OS temp dir named after their content, shared by every process and never
 * stale (test workers are killed without running exit hooks, so nothing is cleaned per process).
 */
function buildChildFromSource(): string {
  if (sourceBuild !== undefined) return sourceBuild;
  const names = ['session-process', 'protocol'];
  const sources = names.map((name) => readFileSync(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), 'utf8'));
  const hash = createHash('sha256').update(sources.join('\0')).digest('hex').slice(0, 16);
  // Per user: the staging directory is created 0700, and agents run as `postgres` next to
  // test processes running as root.
  const dir = join(tmpdir(), `pgha-zookeeper-child-${process.getuid?.() ?? 'u'}-${hash}`);
  if (!existsSync(join(dir, 'session-process.js'))) {
    const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript;
    // Written aside and renamed into place, so a concurrent process never sees a partial build.
    const staging = mkdtempSync(`${dir}-`);
    writeFileSync(join(staging, 'package.json'), '{"type":"module"}\n');
    names.forEach((name, i) => {
      const output = ts.transpileModule(sources[i]!, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      }).outputText;
      writeFileSync(join(staging, `${name}.js`), output);
    });
    try {
      renameSync(staging, dir);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another process got there first
    }
  }
  sourceBuild = join(dir, 'session-process.js');
  return sourceBuild;
}

/** The child's entry: the built `session-process.js` next to this file, or one built from the sources. */
function childEntry(): string {
  if (import.meta.url.endsWith('.ts')) return buildChildFromSource();
  return fileURLToPath(new URL('./session-process.js', import.meta.url));
}

export class ZooKeeperSession {
  state: SessionState = 'starting';
  /** Hex session id, once connected. */
  sessionId: string | null = null;
  /** The timeout the server negotiated, once connected. */
  timeoutMs: number | null = null;
  endReason: SessionEnd | null = null;

  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private readonly exited: Promise<void>;
  private readonly liveness: NodeJS.Timeout;
  private nextId = PING_ID + 1;
  private lastHeard: number;
  private suspectSince: number | null = null;
  private readonly options: SessionOptions;

  constructor(options: SessionOptions) {
    this.options = options;
    // execArgv is explicit so the child does not inherit the parent's loaders or test flags. The
    // child only relays calls to the native client, so V8 is set for memory, not speed: a small
    // young generation, no background threads, no optimizing compilers.
    this.child = fork(childEntry(), [], { execArgv: SESSION_CHILD_NODE_FLAGS, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.finish({ kind: 'exited', code, signal });
        resolve();
      });
      // `on`, not `once`: a child can emit 'error' more than once (a failed spawn or kill, then a
      // send on a closed channel), and an 'error' with no listener is an uncaught exception in
      // the agent. finish() runs once; later errors only add a log line.
      this.child.on('error', (e) => {
        if (this.state !== 'ended') this.finish({ kind: 'exited', code: null, signal: null, error: e.message });
        else options.events.log('debug', `ZooKeeper session process: ${e.message}`);
        resolve();
      });
    });
    this.child.on('message', (m: ChildMessage) => this.onMessage(m));
    let partial = '';
    this.child.stderr?.setEncoding('utf8');
    // A broken pipe on the child's stderr must not reach the agent as an unhandled 'error'.
    this.child.stderr?.on('error', (e) => options.events.log('debug', `ZooKeeper session process stderr: ${e.message}`));
    this.child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.events.log('debug', line);
    });
    this.lastHeard = options.clock.now();
    this.send({ t: 'init', modulePath: zookeeperModule(), connect: options.connect, timeoutMs: options.timeoutMs, auth: options.auth });
    this.liveness = setInterval(() => this.checkLiveness(), this.pingEveryMs());
    // An agent that forgets close() must still be able to exit; the child follows on 'disconnect'.
    this.liveness.unref();
    this.child.unref();
    this.child.channel?.unref();
    (this.child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Sends one request. Resolves (never rejects) with the reply, `timeout` after `timeoutMs`
   * (the request may still complete on the server; its late reply is dropped), or `ended`.
   * `sentAt` is read just before sending, so it is never later than the server's receipt.
   */
  call(request: Request, timeoutMs: number): Promise<CallResult> {
    if (this.state === 'ended') return Promise.resolve({ kind: 'ended' });
    const id = this.nextId++;
    return new Promise<CallResult>((resolve) => {
      const sentAt = this.options.clock.now();
      const timer =
        Number.isFinite(timeoutMs)
          ? setTimeout(() => {
              this.pending.delete(id);
              resolve({ kind: 'timeout' });
            }, timerDelay(timeoutMs))
          : undefined;
      this.pending.set(id, { resolve, sentAt, timer });
      if (!this.send({ t: 'call', id, request })) {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve({ kind: 'ended' });
      }
    });
  }

  /**
   * Ends the session. With `revoke`, the child closes the handle first, which makes the server
   * drop the session and its ephemeral znodes now; otherwise the child is killed and the server
   * expires the session after its timeout. Resolves once the child has exited.
   */
  async end(revoke: boolean): Promise<void> {
    // The child is unref'd so a forgotten driver cannot keep the process alive, but whoever
    // awaits end() must get its exit.
    this.child.ref();
    const canRevoke = revoke && this.state !== 'ended' && this.sessionId !== null && this.child.connected;
    if (canRevoke) {
      this.finish({ kind: 'requested' }, false);
      this.send({ t: 'close' });
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 6000);
      await this.exited;
      clearTimeout(timer);
    } else {
      this.finish({ kind: 'requested' });
      await this.exited;
    }
  }

  private send(message: ParentMessage): boolean {
    if (!this.child.connected) return false;
    try {
      // With a callback, a send that fails later (the channel closed meanwhile) is reported here
      // rather than as another 'error' event; the exit handler ends the session either way.
      this.child.send(message, (e) => {
        if (e) this.options.events.log('debug', `ZooKeeper session process: send failed: ${e.message}`);
      });
      return true;
    } catch {
      return false;
    }
  }

  private onMessage(m: ChildMessage): void {
    this.lastHeard = this.options.clock.now();
    if (this.state === 'ended') return;
    switch (m.t) {
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return; // a ping, or a reply after its deadline
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        p.resolve({ kind: 'reply', reply: m.reply, sentAt: p.sentAt });
        return;
      }
      case 'connected': {
        const first = this.sessionId === null;
        this.sessionId = m.sessionId;
        this.timeoutMs = m.timeoutMs;
        this.state = 'connected';
        this.options.events.connected(first);
        return;
      }
      case 'connecting':
        if (this.state === 'connected') {
          this.state = 'connecting';
          this.options.events.connecting();
        }
        return;
      case 'closed':
        this.finish({ kind: 'closed', code: m.code });
        return;
      case 'fired':
        this.options.events.fired(m.path, m.type);
        return;
      case 'log':
        this.options.events.log(m.level, m.message);
        return;
    }
  }

  private silenceLimitMs(): number {
    return Math.max(this.timeoutMs ?? this.options.timeoutMs, 2000);
  }

  private pingEveryMs(): number {
    return Math.min(1000, Math.floor(this.silenceLimitMs() / 4));
  }

  private checkLiveness(): void {
    if (this.state === 'ended') return;
    const now = this.options.clock.now();
    this.send({ t: 'call', id: PING_ID, request: { op: 'ping' } });
    if (now - this.lastHeard <= this.silenceLimitMs()) {
      this.suspectSince = null;
      return;
    }
    // After our own process was paused, timers run before pending IPC input is read: only kill
    // when the silence outlasts one more round, so queued replies get their chance first.
    if (this.suspectSince === null || this.lastHeard >= this.suspectSince) {
      this.suspectSince = now;
      return;
    }
    this.finish({ kind: 'unresponsive', silentMs: Math.round(now - this.lastHeard) });
  }

  /** Marks the session ended (once), fails pending calls, and kills the child unless told not to. */
  private finish(end: SessionEnd, kill = true): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endReason = end;
    clearInterval(this.liveness);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ kind: 'ended' });
    }
    this.pending.clear();
    if (kill && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.options.events.ended(end);
  }
}
