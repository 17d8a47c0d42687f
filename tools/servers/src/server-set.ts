/**
 * The lifecycle of a set of servers started together (an etcd cluster, a ZooKeeper ensemble):
 * stop all, stop / start one, freeze / thaw one. What a server's launch and readiness mean is
 * the caller's; this holds what is the same for every kind.
 */
import { rm } from 'node:fs/promises';
import type { ServerProcess } from './process.js';

export interface ServerSlot {
  process: ServerProcess | null;
}

export interface ServerSetOptions<S extends ServerSlot> {
  /** What the set is called in errors (`the etcd cluster`). */
  what: string;
  /** Directory of the set's data, removed when the set stops. */
  root: string;
  /** The server at `i`; throws a RangeError for an index outside the set. */
  member(i: number): S;
  all: readonly S[];
  /** Starts server `i` again (its data kept) and resolves once it serves. */
  restart(i: number): Promise<void>;
}

export interface ServerSetLifecycle {
  readonly stopped: boolean;
  stop(): Promise<void>;
  stopMember(i: number, options?: { kill?: boolean }): Promise<void>;
  startMember(i: number): Promise<void>;
  freeze(i: number): void;
  thaw(i: number): void;
}

export function serverSetLifecycle<S extends ServerSlot>(o: ServerSetOptions<S>): ServerSetLifecycle {
  let stopped = false;
  return {
    get stopped() {
      return stopped;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(o.all.map((s) => s.process?.stop(3000)));
      for (const s of o.all) s.process = null;
      await rm(o.root, { recursive: true, force: true });
    },
    async stopMember(i, opts = {}) {
      const s = o.member(i);
      const proc = s.process;
      if (!proc) return;
      if (opts.kill) {
        // A frozen server takes SIGKILL too, but is let run first so its exit is reaped at once.
        proc.child.kill('SIGCONT');
        proc.child.kill('SIGKILL');
        await proc.exited;
      } else {
        await proc.stop(3000);
      }
      s.process = null;
    },
    async startMember(i) {
      const s = o.member(i);
      if (stopped) throw new Error(`${o.what} was stopped`);
      if (s.process) return;
      await o.restart(i);
    },
    freeze(i) {
      o.member(i).process?.freeze();
    },
    thaw(i) {
      o.member(i).process?.thaw();
    },
  };
}
