/**
 * A copy of the cluster's znodes kept current by ZooKeeper watches, so an HA cycle's `load()` is
 * one sync instead of a listing and a read per key (Patroni's ZooKeeper driver caches the same
 * way). Every znode read is read with a watch: a data watch on each key, a child watch on the
 * base and on each directory (`members`, `optime`), an exists-watch on the base while it is
 * absent. ZooKeeper watches fire once, so each fire re-reads its znode with a new watch; a change
 * in between is caught by that read, and one after it fires the new watch.
 *
 * Why a copy served after a sync is as fresh as a read (the argument the lock relies on):
 * - a server sends a session the notification of a change before any later reply on that
 *   session, and the client hands both over in order (relayed in order by the session process);
 * - a sync's reply comes after the server has applied everything the ensemble leader committed
 *   before the sync; so once it is in, every change committed before it has fired, and once the
 *   re-reads those fires started are answered, the copy holds the keys as a read sent after the
 *   sync would;
 * - our own write's notification precedes its reply, so the copy is at least as fresh as the
 *   last write this driver made, as the driver contract asks.
 * The copy belongs to one session and one connection: on a lost connection it is dropped
 * (`invalidate`), and rebuilt by a full read that re-arms every watch once the session is
 * connected again, or on the next session. A watch registration or re-read that went unanswered
 * marks it broken, which also means a full read. Nothing is served from it unless it is
 * `current`: built on the session in use, connected since, nothing missing.
 */
import type { Logger, RawCluster, RawNode, WatchEvent } from '@pgha/dcs';
import { timerDelay } from '@pgha/dcs';
import { unavailable } from './errors.js';
import { SERVER_ANSWERS, WATCH_EVENT, ZRC, type Reply } from './protocol.js';
import type { ZooKeeperSession } from './session-client.js';

/** Directory znodes under the base: listed (child-watched), never reported as keys. */
const DIRECTORIES = new Set(['members', 'optime']);

export type CacheState = 'empty' | 'building' | 'current' | 'invalid';

export interface ClusterCacheOptions {
  /** The cluster's base path, without the trailing slash. */
  base: string;
  logger: Logger;
  clock: { now(): number };
  closed(): boolean;
}

/** The cache's counters, for `ZooKeeperDriver.inspect()`. */
export interface CacheInfo {
  state: CacheState;
  /** Reads still to be answered (re-reads after fires, or a full read). */
  pending: number;
  /** Watch registrations sent (every read is one), and fires received, over the driver's life. */
  watchRegistrations: number;
  watchFires: number;
  /** Full reads of the cluster, and loads served from the copy. */
  fullReads: number;
  cachedLoads: number;
}

/** A full read failed with a reply that is not a connection problem (an ACL refusal, say). */
class RefusedRead extends Error {
  readonly reply: Reply;
  readonly path: string;
  constructor(reply: Reply, path: string) {
    super(`${path}: ${reply.rc}`);
    this.reply = reply;
    this.path = path;
  }
}

export class ClusterCache {
  private session: ZooKeeperSession | null = null;
  private state: CacheState = 'empty';
  private nodes = new Map<string, RawNode>();
  /** Children last listed per directory ('' is the base). */
  private dirs = new Map<string, Set<string>>();
  private inflight = new Set<Promise<void>>();
  private building: Promise<void> | null = null;
  /** Bumped by every rebuild and invalidation: answers to an older generation are dropped. */
  private generation = 0;
  private refused: RefusedRead | null = null;
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private readonly settledWaiters = new Set<() => void>();
  private stats = { watchRegistrations: 0, watchFires: 0, fullReads: 0, cachedLoads: 0 };
  private readonly options: ClusterCacheOptions;

  constructor(options: ClusterCacheOptions) {
    this.options = options;
  }

  listen(listener: (event: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Drops every listener (the driver is closing). */
  clear(): void {
    this.listeners.clear();
    this.invalidate();
  }

  info(): CacheInfo {
    return { state: this.state, pending: this.inflight.size, ...this.stats };
  }

  /** The copy may be stale from now on (connection or session lost): nothing is served from it. */
  invalidate(): void {
    this.generation++;
    this.session = null;
    this.building = null;
    this.state = this.state === 'empty' ? 'empty' : 'invalid';
    this.wakeSettled();
  }

  /** Whether loads on `session` can be served from the copy (after a sync; see `serve`). */
  isCurrent(session: ZooKeeperSession): boolean {
    return this.state === 'current' && this.session === session && session.state === 'connected';
  }

  /**
   * Reads the whole cluster on `session`, arming every watch, and makes the copy current on it.
   * One full read at a time per session; later callers share it. Rejects DCS_UNAVAILABLE when a
   * read went unanswered, or with the refusing reply's error (`refusal`) for a server refusal.
   */
  rebuild(session: ZooKeeperSession): Promise<void> {
    if (this.building && this.session === session) return this.building;
    this.generation++;
    const gen = this.generation;
    this.session = session;
    this.state = 'building';
    this.nodes = new Map();
    this.dirs = new Map();
    this.refused = null;
    this.stats.fullReads++;
    const build = (async () => {
      await this.list(session, gen, '', false);
      await this.settled(gen, Number.POSITIVE_INFINITY);
      if (gen !== this.generation) throw unavailable(`the ZooKeeper connection was lost while reading ${this.options.base}`);
      if (this.refused) throw this.refused;
      if (this.state !== 'building') throw unavailable(`a read of ${this.options.base} went unanswered`);
      this.state = 'current';
    })();
    this.building = build;
    build.then(
      () => {
        if (this.building === build) this.building = null;
      },
      () => {
        if (this.building === build) this.building = null;
      },
    );
    return build;
  }

  /** The refusal a failed rebuild rejected with, if it was one (the caller maps it to its error). */
  static refusal(e: unknown): { reply: Reply; path: string } | null {
    return e instanceof RefusedRead ? { reply: e.reply, path: e.path } : null;
  }

  /**
   * The copy, once every re-read started so far is answered (within `deadline`); null when it is
   * not current any more (the caller reads in full). Call it after a sync (see the file comment).
   */
  async serve(session: ZooKeeperSession, deadline: number, counted = true): Promise<RawCluster | null> {
    const gen = this.generation;
    if (!this.isCurrent(session)) return null;
    if (!(await this.settled(gen, deadline))) throw unavailable(`ZooKeeper did not answer the re-reads of ${this.options.base} before the deadline`);
    if (gen !== this.generation || !this.isCurrent(session)) return null;
    if (counted) this.stats.cachedLoads++;
    return { nodes: new Map(this.nodes) };
  }

  /** The copy as it stands, for a caller that checked `isCurrent` and waited for `serve`. */
  node(key: string): RawNode | undefined {
    return this.nodes.get(key);
  }

  /** A watch on `session` fired: re-read what it covers (re-arming it) and tell the listeners. */
  fired(session: ZooKeeperSession, path: string, type: number): void {
    if (session !== this.session || this.options.closed()) return;
    const base = this.options.base;
    if (path !== base && !path.startsWith(`${base}/`)) return;
    this.stats.watchFires++;
    const rel = path === base ? '' : path.slice(base.length + 1);
    const gen = this.generation;
    const top = !rel.includes('/');
    if (type === WATCH_EVENT.child || rel === '' || (top && DIRECTORIES.has(rel))) {
      this.track(this.list(session, gen, rel, true));
      return;
    }
    // A data change or delete of a key: tell at once (in the server's order), then re-read.
    this.notify(rel);
    this.track(this.read(session, gen, rel));
  }

  /** Tells every listener that `key` changed (`created`: it did not exist before). A throwing listener is logged. */
  notify(key: string, created = false): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(created ? { key, created: true } : { key });
      } catch (e) {
        this.options.logger.error({ err: e, key }, 'a DCS watch listener threw');
      }
    }
  }

  // ---- reads ----------------------------------------------------------------------------------

  private path(rel: string): string {
    return rel === '' ? this.options.base : `${this.options.base}/${rel}`;
  }

  /**
   * Sends one watched read. Registrations carry no deadline: the client always answers them (a
   * reply, or connection loss), and one abandoned while pending could turn live later and be
   * doubled. Null when the answer belongs to an older generation or is no server's.
   */
  private async call(session: ZooKeeperSession, gen: number, op: 'get_watch' | 'watch_children' | 'watch', rel: string): Promise<Reply | null> {
    this.stats.watchRegistrations++;
    const result = await session.call({ op, path: this.path(rel) }, Number.POSITIVE_INFINITY);
    if (gen !== this.generation) return null;
    if (result.kind !== 'reply' || (result.reply.rc !== ZRC.ok && result.reply.rc !== ZRC.noNode)) {
      if (result.kind === 'reply' && (SERVER_ANSWERS.has(result.reply.rc) || result.reply.rc === ZRC.badArguments)) {
        this.refused ??= new RefusedRead(result.reply, this.path(rel));
      }
      this.broken(rel, result.kind === 'reply' ? result.reply : null);
      return null;
    }
    return result.reply;
  }

  /** A read of `key` (relative) with a data watch; a top-level key with children is listed too. */
  private async read(session: ZooKeeperSession, gen: number, key: string): Promise<void> {
    const r = await this.call(session, gen, 'get_watch', key);
    if (r === null) return;
    if (r.rc === ZRC.noNode) {
      // Gone, and no watch is left on a missing znode: forget it in its directory's listing too,
      // so the parent's child watch reads it as new if it comes back — also when it is back by
      // the time that listing is answered (a member znode replaced in a new session).
      this.nodes.delete(key);
      const slash = key.lastIndexOf('/');
      this.dirs.get(slash < 0 ? '' : key.slice(0, slash))?.delete(key.slice(slash + 1));
      return;
    }
    const children = r.stat?.numChildren ?? 0;
    if (children === 0) {
      const node: RawNode = { value: r.data ?? '', version: String(r.stat?.version ?? 0) };
      if (r.stat?.owner !== undefined) node.owner = r.stat.owner;
      this.nodes.set(key, node);
    } else {
      this.nodes.delete(key);
      if (!key.includes('/') && !this.dirs.has(key)) this.track(this.list(session, gen, key, false));
    }
  }

  /**
   * Lists `dir` ('' for the base) with a child watch and reads what is new in it; drops what
   * left. `live`: a fire, not the first listing, so a member new in it is reported as created.
   */
  private async list(session: ZooKeeperSession, gen: number, dir: string, live: boolean): Promise<void> {
    const r = await this.call(session, gen, 'watch_children', dir);
    if (r === null) return;
    const before = this.dirs.get(dir) ?? new Set<string>();
    if (r.rc === ZRC.noNode) {
      this.dropUnder(dir);
      if (dir !== '') return;
      // No cluster yet: an exists-watch on the base tells when it is created.
      const e = await this.call(session, gen, 'watch', '');
      if (e?.rc === ZRC.ok) await this.list(session, gen, '', live);
      return;
    }
    const now = new Set(r.children ?? []);
    this.dirs.set(dir, now);
    for (const name of before) if (!now.has(name)) this.dropUnder(dir === '' ? name : `${dir}/${name}`, dir === '');
    const reads: Promise<void>[] = [];
    for (const name of now) {
      if (before.has(name)) continue;
      const key = dir === '' ? name : `${dir}/${name}`;
      if (dir === '' && DIRECTORIES.has(name)) reads.push(this.list(session, gen, name, live));
      else reads.push(this.read(session, gen, key));
      if (live) this.notify(key, dir === 'members');
    }
    await Promise.all(reads);
  }

  /** Forgets `rel` and everything under it (`self`: the key itself too). */
  private dropUnder(rel: string, self = true): void {
    if (rel === '') {
      this.nodes.clear();
      this.dirs.clear();
      return;
    }
    if (self) this.nodes.delete(rel);
    this.dirs.delete(rel);
    for (const key of [...this.nodes.keys()]) if (key.startsWith(`${rel}/`)) this.nodes.delete(key);
  }

  private broken(rel: string, reply: Reply | null): void {
    if (this.state === 'current' || this.state === 'building') {
      this.options.logger.info({ path: this.path(rel), rc: reply?.rc ?? null }, 'a watched ZooKeeper read went unanswered; the next load reads the cluster in full');
    }
    this.state = 'invalid';
  }

  private track(p: Promise<void>): void {
    const done = p.catch((e: unknown) => this.options.logger.error({ err: e }, 'ZooKeeper cache read failed')).finally(() => {
      this.inflight.delete(done);
      this.wakeSettled();
    });
    this.inflight.add(done);
  }

  /** Waits until no read is in flight (true), the generation changed or `deadline` passed (false). */
  private async settled(gen: number, deadline: number): Promise<boolean> {
    while (this.inflight.size > 0 && gen === this.generation) {
      const left = deadline - this.options.clock.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          if (timer) clearTimeout(timer);
          this.settledWaiters.delete(wake);
          resolve();
        };
        const timer = Number.isFinite(left) ? setTimeout(wake, timerDelay(left)) : null;
        this.settledWaiters.add(wake);
      });
    }
    return gen === this.generation;
  }

  private wakeSettled(): void {
    for (const wake of [...this.settledWaiters]) wake();
  }
}
