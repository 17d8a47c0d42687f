/**
 * The driver's watches: exists-watches on the keys that wake the HA loop, a child watch on the
 * members directory, and the listeners they wake. ZooKeeper watches fire once and belong to a
 * session, so each is re-armed after it fires and on every new session.
 */
import { KEY, type Logger, type WatchEvent } from '@pgha/dcs';
import { ZRC } from './protocol.js';
import type { ZooKeeperSession } from './session-client.js';

/** Keys whose changes wake the HA loop. */
const WATCHED = [KEY.leader, KEY.config] as const;
export type WatchedKey = (typeof WATCHED)[number];
/**
 * The members directory, child-watched once our own member key exists (so the directory does):
 * a name new in its listing is reported as a created key, so a leader makes a joining member's
 * slot at once.
 */
export const MEMBERS = 'members' as const;
export type WatchState = 'idle' | 'pending' | 'armed';

export interface ZooKeeperWatchesOptions {
  /** The cluster's base path, without the trailing slash. */
  base: string;
  logger: Logger;
  /** The current session, if any: registrations answered on another one are stale. */
  current(): ZooKeeperSession | null;
  closed(): boolean;
  /** Whether our member key exists (was written), so `members` can be child-watched. */
  memberWanted(): boolean;
}

/** Watch counters and states, for `ZooKeeperDriver.inspect()`. */
export interface WatchesInfo {
  watchRegistrations: number;
  watchFires: number;
  watches: Record<WatchedKey, WatchState>;
  membersWatch: WatchState;
}

export class ZooKeeperWatches {
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private states = new Map<WatchedKey | typeof MEMBERS, WatchState>();
  /** The member names the last listing of `members` showed (null before the first). */
  private knownMembers: Set<string> | null = null;
  private stats = { watchRegistrations: 0, watchFires: 0 };
  private readonly options: ZooKeeperWatchesOptions;

  constructor(options: ZooKeeperWatchesOptions) {
    this.options = options;
  }

  listen(listener: (event: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Drops every listener (the driver is closing). */
  clear(): void {
    this.listeners.clear();
  }

  /** The session's registrations are gone with it: every watch is idle again. */
  reset(): void {
    this.states = new Map();
  }

  info(): WatchesInfo {
    return {
      watchRegistrations: this.stats.watchRegistrations,
      watchFires: this.stats.watchFires,
      watches: { leader: this.states.get(KEY.leader) ?? 'idle', config: this.states.get(KEY.config) ?? 'idle' },
      membersWatch: this.states.get(MEMBERS) ?? 'idle',
    };
  }

  /** Arms every watch that is not live on `session`. */
  armAll(session: ZooKeeperSession): void {
    for (const key of WATCHED) this.arm(session, key);
    if (this.options.memberWanted()) this.arm(session, MEMBERS);
  }

  /** Arms the child watch on `members` (our member key was just written). */
  armMembers(session: ZooKeeperSession): void {
    this.arm(session, MEMBERS);
  }

  /** A watch on `session` fired: re-arm it and tell the listeners. */
  fired(session: ZooKeeperSession, path: string, _type: number): void {
    if (session !== this.options.current()) return;
    const key = ([...WATCHED, MEMBERS] as const).find((k) => this.path(k) === path);
    if (key === undefined) return;
    this.stats.watchFires++;
    this.states.set(key, 'idle');
    this.arm(session, key, true);
    if (key !== MEMBERS) this.notify(key);
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

  private path(key: string): string {
    return `${this.options.base}/${key}`;
  }

  /**
   * Registers the watch of `key` unless one is live or on its way: an exists-watch on a key, a
   * child watch on `members` (which also lists them; see `memberListing`). A registration is sent
   * without a deadline: the client always answers it (a result, or connection loss), and one
   * abandoned while still pending could turn live later and be doubled.
   *
   * `afterFire`: this registration replaces one that just fired. A change made between the fire
   * and the new registration reaching the server fires nothing, and a listener that read the key
   * on the first event may have read it before that change; so listeners are told once more when
   * the new watch is live (one spare wake-up per event, instead of a change unseen until the
   * next loop_wait). For `members` the new listing itself tells what changed.
   */
  private arm(session: ZooKeeperSession, key: WatchedKey | typeof MEMBERS, afterFire = false): void {
    if (this.options.closed() || session !== this.options.current() || session.state !== 'connected') return;
    if ((this.states.get(key) ?? 'idle') !== 'idle') return;
    this.states.set(key, 'pending');
    this.stats.watchRegistrations++;
    const children = key === MEMBERS;
    void session.call({ op: children ? 'watch_children' : 'watch', path: this.path(key) }, Number.POSITIVE_INFINITY).then((result) => {
      if (session !== this.options.current()) return;
      // An exists-watch is set whether or not the node exists; a child watch only on a node that does.
      if (result.kind === 'reply' && (result.reply.rc === ZRC.ok || (!children && result.reply.rc === ZRC.noNode))) {
        if (this.states.get(key) === 'pending') this.states.set(key, 'armed');
        if (children) this.memberListing(result.reply.children ?? []);
        else if (afterFire) this.notify(key);
        return;
      }
      this.states.set(key, 'idle');
      // Re-armed on the next reconnect; if the connection is up (e.g. a refusal), retry shortly.
      setTimeout(() => this.arm(session, key, afterFire), 1000).unref();
    });
  }

  /** A new listing of `members`: a name not in the previous one is a member key just created. */
  private memberListing(names: string[]): void {
    const before = this.knownMembers;
    this.knownMembers = new Set(names);
    if (before) for (const name of names) if (!before.has(name)) this.notify(`members/${name}`, true);
  }
}
