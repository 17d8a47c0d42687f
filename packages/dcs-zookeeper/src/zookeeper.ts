/**
 * The ZooKeeper driver, in Patroni's layout: `leader` and `members/<name>` are ephemeral znodes of
 * our session, every other key a persistent znode; compare-and-set uses the znode version.
 *
 * The session lives in a child process (see `session.ts` for why). One child holds one session;
 * when a session ends (expired, child died or hung) the driver starts a new one and re-creates our
 * member znode in it. The leader znode is never re-created by the driver on a new session: only
 * `acquireLeader` (a new race) or `renewLeader` (a znode that still names us, left by our own dead
 * session) create it. An ephemeral znode that names us but belongs to a session this driver never
 * had is another live agent's with our name (ZooKeeper deletes a session's ephemerals when it
 * ends): it is never renewed, released or replaced here (pgha issue 15).
 *
 * The hold is timed here, not by the library: an answer to a request that went through the
 * ensemble leader (a write or a sync) moves `validUntil` to the request's send time plus the
 * negotiated session timeout, because the server restarts the session's expiry on every request
 * it receives. A frozen server therefore shows up as a hold that runs out, before the server could
 * expire the session. Residual in an ensemble: followers relay session activity to the leader
 * every tickTime/2, so a follower cut off right after answering can leave the leader's expiry up
 * to one relay plus our idle gap (at most the 1 s heartbeat) earlier than `validUntil`.
 */
import {
  clusterPrefix,
  DcsError,
  DcsErrorCode,
  isDcsError,
  KEY,
  memberKey,
  timerDelay,
  type CallOptions,
  type DcsDriver,
  type DcsTiming,
  type DriverOptions,
  type Expectation,
  type RawCluster,
  type RawNode,
  type SessionHold,
  type StoredKey,
  type WatchEvent,
} from '@pgha/dcs';
import { parseZooKeeperSection, type ZooKeeperSettings } from './config.js';
import { CLOSE_CODE, LEADER_ROUTED, SERVER_ANSWERS, ZRC, type Reply, type Request } from './protocol.js';
import { ZooKeeperSession, type SessionEnd } from './session.js';

/** Keys whose changes wake the HA loop. */
const WATCHED = [KEY.leader, KEY.config] as const;
type WatchedKey = (typeof WATCHED)[number];
/**
 * The members directory, child-watched once our own member key exists (so the directory does):
 * a name new in its listing is reported as a created key, so a leader makes a joining member's
 * slot at once.
 */
const MEMBERS = 'members' as const;
type WatchState = 'idle' | 'pending' | 'armed';

/** Period of the session heartbeat (a sync through the ensemble leader), in ms. */
const HEARTBEAT_MS = 1000;

/** Directory znodes under the prefix; never reported as keys even when empty. */
const DIRECTORIES = new Set(['members', 'optime']);

/** A reply, with the id of the session that gave it. */
type Answer = Reply & { sessionId: string };

/** Diagnostics of the driver (not part of the DcsDriver contract): for tests, logs and metrics. */
export interface ZooKeeperDriverInfo {
  state: 'starting' | 'connected' | 'connecting' | 'none' | 'closed';
  sessionId: string | null;
  /** The negotiated session timeout of the current session, in ms. */
  negotiatedTimeoutMs: number | null;
  /** Pid of the session process. */
  pid: number | undefined;
  /** Sessions started so far (1 + replacements). */
  sessionsStarted: number;
  /** Watch registrations sent, and real fires received, over the driver's life. */
  watchRegistrations: number;
  watchFires: number;
  /** Per watched key, whether a registration is live on the current session. */
  watches: Record<WatchedKey, WatchState>;
  /** The child watch on `members` (armed once our own member key is written). */
  membersWatch: WatchState;
}

export interface ZooKeeperDriver extends DcsDriver {
  inspect(): ZooKeeperDriverInfo;
  /** Resolves true once a session is connected, false after `timeoutMs` (never rejects). */
  whenConnected(timeoutMs: number): Promise<boolean>;
}

function parseVersion(version: string): number | null {
  if (!/^\d{1,10}$/.test(version)) return null;
  const n = Number(version);
  return n <= 0x7fffffff ? n : null;
}

class ZooKeeperDcsDriver implements ZooKeeperDriver {
  readonly kind = 'zookeeper';
  readonly prefix: string;

  private readonly base: string;
  private readonly settings: ZooKeeperSettings;
  private timing: DcsTiming;
  private session: ZooKeeperSession | null = null;
  private lastEnd: SessionEnd | null = null;
  private validUntil: number | null = null;
  private negotiatedMs: number | null = null;
  private closed = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelayMs = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private heartbeatInFlight = false;
  private readonly stateWaiters = new Set<() => void>();
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  /** The last value given to touchMember, re-created on every new session. */
  private memberValue: string | null = null;
  private watches = new Map<WatchedKey | typeof MEMBERS, WatchState>();
  /** The member names the last listing of `members` showed (null before the first). */
  private knownMembers: Set<string> | null = null;
  /** The session in which we created (or adopted) our member znode. */
  private memberSession: string | null = null;
  /** Ids of the sessions this driver opened, newest last (bounded: only recent ones can still own a znode). */
  private readonly ownSessions: string[] = [];
  private stats = { sessionsStarted: 0, watchRegistrations: 0, watchFires: 0 };
  /** Znodes we may have created whose ACL is not known to be set (see `createOne`). */
  private readonly aclPending = new Set<string>();
  private aclRepairInFlight = false;
  private readonly options: DriverOptions;

  constructor(options: DriverOptions) {
    this.options = options;
    this.settings = parseZooKeeperSection(options.section, options.logger);
    this.timing = { ttl: options.ttl, loopWait: options.loopWait, retryTimeout: options.retryTimeout };
    this.prefix = clusterPrefix(options.namespace, options.scope);
    this.base = this.prefix.replace(/\/$/, '');
    this.session = this.openSession();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  // ---- contract -------------------------------------------------------------------------------

  async load(options?: CallOptions): Promise<RawCluster> {
    const deadline = this.deadline(options);
    const nodes = new Map<string, RawNode>();
    const top = await this.exec({ op: 'children', path: this.base }, deadline);
    if (top.rc === ZRC.noNode) return { nodes };
    this.expect(top, 'list', this.base);
    const readInto = async (key: string, path: string): Promise<Answer | null> => {
      const r = await this.exec({ op: 'get', path }, deadline);
      if (r.rc === ZRC.noNode) return null; // deleted since the listing
      this.expect(r, 'read', path);
      const node: RawNode = { value: r.data ?? '', version: String(r.stat?.version ?? 0) };
      if (r.stat?.owner !== undefined) node.owner = r.stat.owner;
      if ((r.stat?.numChildren ?? 0) === 0) nodes.set(key, node);
      return r;
    };
    await Promise.all(
      (top.children ?? []).map(async (name) => {
        const path = `${this.base}/${name}`;
        if (!DIRECTORIES.has(name)) {
          const r = await readInto(name, path);
          if (!r || (r.stat?.numChildren ?? 0) === 0) return;
        }
        const list = await this.exec({ op: 'children', path }, deadline);
        if (list.rc === ZRC.noNode) return;
        this.expect(list, 'list', path);
        await Promise.all((list.children ?? []).map((child) => readInto(`${name}/${child}`, `${path}/${child}`)));
      }),
    );
    return { nodes };
  }

  async acquireLeader(options?: CallOptions): Promise<boolean> {
    const deadline = this.deadline(options);
    const path = this.path(KEY.leader);
    let r: Answer;
    try {
      r = await this.create(path, this.options.name, true, deadline);
    } catch (e) {
      // The create may have been applied although its answer was lost. A read on the same
      // session tells: ZooKeeper serves a session's requests in order. A refusal is final (an
      // ACL'd create that was tampered with must not be read back as ours).
      if (!isDcsError(e, DcsErrorCode.Unavailable)) throw e;
      const owned = await this.readBackLeader(deadline).catch(() => null);
      if (owned === null) throw e;
      return owned;
    }
    if (r.rc === ZRC.ok) return true;
    if (r.rc === ZRC.nodeExists) return false;
    throw this.failure(r, 'create', path);
  }

  async renewLeader(options?: CallOptions): Promise<boolean> {
    const deadline = this.deadline(options);
    const path = this.path(KEY.leader);
    // The sync goes through the ensemble leader, which proves the session alive there (it is
    // what moves the hold); the get, queued behind it on the same session, reads current data.
    const [sync, r] = await Promise.all([this.exec({ op: 'sync', path }, deadline), this.exec({ op: 'get', path }, deadline)]);
    if (sync.rc !== ZRC.ok && sync.rc !== ZRC.noNode) throw this.failure(sync, 'sync', path);
    if (r.rc === ZRC.noNode) return false;
    this.expect(r, 'read', path);
    if (r.data !== this.options.name) return false;
    if (r.stat?.owner === r.sessionId) return true;
    if (r.stat?.owner !== undefined && !this.ownsSession(r.stat.owner)) {
      this.options.logger.warn({ path, owner: r.stat.owner, session: r.sessionId }, 'leader znode names us but belongs to another agent with our name; not taking it');
      return false;
    }
    // It names us but belongs to an earlier session of ours (a session change), or is a persistent
    // znode someone wrote. Replace it by one of our current session, conditional on its version.
    this.options.logger.warn(
      { path, owner: r.stat?.owner ?? null, session: r.sessionId },
      'leader znode names us but belongs to another session; re-creating it in ours',
    );
    const d = await this.exec({ op: 'delete', path, version: r.stat?.version ?? -1 }, deadline);
    if (d.rc === ZRC.badVersion) return false;
    if (d.rc !== ZRC.ok && d.rc !== ZRC.noNode) throw this.failure(d, 'delete', path);
    const c = await this.create(path, this.options.name, true, deadline);
    if (c.rc === ZRC.ok) return true;
    if (c.rc === ZRC.nodeExists) return false;
    throw this.failure(c, 'create', path);
  }

  async releaseLeader(options?: CallOptions): Promise<boolean> {
    const deadline = this.deadline(options);
    const path = this.path(KEY.leader);
    const r = await this.exec({ op: 'get', path }, deadline);
    if (r.rc === ZRC.noNode) return false;
    this.expect(r, 'read', path);
    if (r.data !== this.options.name) return false;
    if (r.stat?.owner !== undefined && !this.ownsSession(r.stat.owner)) return false;
    const d = await this.exec({ op: 'delete', path, version: r.stat?.version ?? -1 }, deadline);
    if (d.rc === ZRC.ok) return true;
    if (d.rc === ZRC.noNode || d.rc === ZRC.badVersion) return false;
    throw this.failure(d, 'delete', path);
  }

  async touchMember(value: string, options?: CallOptions): Promise<void> {
    this.memberValue = value;
    await this.writeOwnMember(value, this.deadline(options));
    const session = this.session;
    if (session) this.arm(session, MEMBERS);
  }

  async deleteMember(name: string, options?: CallOptions): Promise<boolean> {
    const path = this.path(memberKey(name));
    const d = await this.exec({ op: 'delete', path, version: -1 }, this.deadline(options));
    if (name === this.options.name) this.memberSession = null;
    if (d.rc === ZRC.ok) return true;
    if (d.rc === ZRC.noNode) return false;
    throw this.failure(d, 'delete', path);
  }

  async write(key: StoredKey, value: string, expect: Expectation, options?: CallOptions): Promise<boolean> {
    const deadline = this.deadline(options);
    const path = this.path(key);
    if (expect.kind === 'absent') {
      const c = await this.create(path, value, false, deadline);
      if (c.rc === ZRC.ok) return true;
      if (c.rc === ZRC.nodeExists) return false;
      throw this.failure(c, 'create', path);
    }
    if (expect.kind === 'version') {
      const version = parseVersion(expect.version);
      if (version === null) return false; // not a version this backend could have produced
      const s = await this.exec({ op: 'set', path, data: value, version }, deadline);
      if (s.rc === ZRC.ok) return true;
      if (s.rc === ZRC.badVersion || s.rc === ZRC.noNode) return false;
      throw this.failure(s, 'set', path);
    }
    // Unconditional: -1 is "any version" (an omitted version would mean version 0 in this client).
    for (;;) {
      const s = await this.exec({ op: 'set', path, data: value, version: -1 }, deadline);
      if (s.rc === ZRC.ok) return true;
      if (s.rc !== ZRC.noNode) throw this.failure(s, 'set', path);
      const c = await this.create(path, value, false, deadline);
      if (c.rc === ZRC.ok) return true;
      if (c.rc !== ZRC.nodeExists) throw this.failure(c, 'create', path);
      // Created by someone else in between: overwrite it (the loop ends at the deadline).
    }
  }

  async remove(key: StoredKey, expect: Expectation, options?: CallOptions): Promise<boolean> {
    if (expect.kind === 'absent') return false;
    const path = this.path(key);
    let version = -1;
    if (expect.kind === 'version') {
      const v = parseVersion(expect.version);
      if (v === null) return false;
      version = v;
    }
    const d = await this.exec({ op: 'delete', path, version }, this.deadline(options));
    if (d.rc === ZRC.ok) return true;
    if (d.rc === ZRC.noNode || d.rc === ZRC.badVersion) return false;
    throw this.failure(d, 'delete', path);
  }

  async deleteCluster(options?: CallOptions): Promise<void> {
    const deadline = this.deadline(options);
    const removeTree = async (path: string, attempts: number): Promise<void> => {
      const list = await this.exec({ op: 'children', path }, deadline);
      if (list.rc === ZRC.noNode) return;
      this.expect(list, 'list', path);
      await Promise.all((list.children ?? []).map((child) => removeTree(`${path}/${child}`, attempts)));
      const d = await this.exec({ op: 'delete', path, version: -1 }, deadline);
      if (d.rc === ZRC.ok || d.rc === ZRC.noNode) return;
      // A child appeared meanwhile (a member re-registering): go again.
      if (d.rc === ZRC.notEmpty && attempts > 0) return removeTree(path, attempts - 1);
      throw this.failure(d, 'delete', path);
    };
    await removeTree(this.base, 3);
    this.memberValue = null;
    this.memberSession = null;
  }

  ownsSession(owner: string): boolean {
    return this.ownSessions.includes(owner);
  }

  adoptSession(owner: string): void {
    if (!this.ownSessions.includes(owner)) this.ownSessions.unshift(owner);
  }

  watch(listener: (event: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  hold(): SessionHold {
    return { validUntil: this.validUntil, ttl: (this.negotiatedMs ?? this.requestedTimeoutMs()) / 1000 };
  }

  async setTiming(timing: DcsTiming): Promise<void> {
    if (this.closed) throw this.closedError();
    const ttlChanged = timing.ttl !== this.timing.ttl;
    const previous = this.timing;
    this.timing = { ...timing };
    const old = this.session;
    if (!ttlChanged || !old || old.state === 'ended') return; // the next session uses the new ttl
    if (old.sessionId === null) {
      // Not connected yet: nothing lives in it, start over with the new timeout.
      this.session = this.openSession();
      await old.end(false);
      return;
    }
    try {
      await this.replaceSession(old, this.deadline());
    } catch (e) {
      this.timing = previous;
      throw e;
    }
  }

  async close(options?: { revoke?: boolean }): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    clearInterval(this.heartbeat);
    const session = this.session;
    this.session = null;
    this.validUntil = null;
    this.listeners.clear();
    this.wakeWaiters();
    await session?.end(options?.revoke === true);
  }

  whenConnected(timeoutMs: number): Promise<boolean> {
    return this.waitFor(() => this.closed || this.session?.state === 'connected', this.options.clock.now() + timeoutMs).then(
      (ready) => ready && !this.closed,
    );
  }

  inspect(): ZooKeeperDriverInfo {
    const s = this.session;
    return {
      state: this.closed ? 'closed' : (s?.state === 'ended' || !s ? 'none' : s.state),
      sessionId: s?.sessionId ?? null,
      negotiatedTimeoutMs: s?.timeoutMs ?? null,
      pid: s?.pid,
      sessionsStarted: this.stats.sessionsStarted,
      watchRegistrations: this.stats.watchRegistrations,
      watchFires: this.stats.watchFires,
      watches: { leader: this.watches.get(KEY.leader) ?? 'idle', config: this.watches.get(KEY.config) ?? 'idle' },
      membersWatch: this.watches.get(MEMBERS) ?? 'idle',
    };
  }

  // ---- sessions -------------------------------------------------------------------------------

  private requestedTimeoutMs(): number {
    return Math.round(this.timing.ttl * 1000);
  }

  private openSession(): ZooKeeperSession {
    this.stats.sessionsStarted++;
    const session: ZooKeeperSession = new ZooKeeperSession({
      connect: this.settings.connectString,
      timeoutMs: this.requestedTimeoutMs(),
      auth: this.settings.auth,
      clock: this.options.clock,
      events: {
        connected: (first) => {
          if (first && session.sessionId !== null) this.rememberSession(session.sessionId);
          this.onConnected(session, first);
        },
        connecting: () => {
          this.wakeWaiters();
          if (session !== this.session) return;
          this.options.logger.warn({ hosts: this.settings.connectString, session: session.sessionId }, 'lost the ZooKeeper connection; reconnecting');
        },
        fired: (path, type) => this.onFired(session, path, type),
        ended: (end) => this.onEnded(session, end),
        log: (level, message) => this.options.logger[level]({ hosts: this.settings.connectString }, `zookeeper client: ${message}`),
      },
    });
    return session;
  }

  private rememberSession(id: string): void {
    this.ownSessions.push(id);
    if (this.ownSessions.length > 16) this.ownSessions.shift();
  }

  private onConnected(session: ZooKeeperSession, first: boolean): void {
    this.wakeWaiters();
    if (session !== this.session) return; // a replacement being prepared by setTiming
    this.restartDelayMs = 0;
    if (first) {
      this.established(session);
    } else {
      this.options.logger.info({ hosts: this.settings.connectString, session: session.sessionId }, 'reconnected to ZooKeeper; session kept');
      // Live watch registrations survive a reconnect (the C client re-sends them); only failed
      // ones are re-armed. The event lets the loop re-read whatever changed meanwhile.
      this.armWatches(session);
      this.notify(KEY.leader);
    }
  }

  /** A session became the current one and is connected: check its timeout, arm watches, restore our member znode. */
  private established(session: ZooKeeperSession): void {
    const negotiated = session.timeoutMs ?? this.requestedTimeoutMs();
    this.negotiatedMs = negotiated;
    const log = { hosts: this.settings.connectString, session: session.sessionId, requestedMs: this.requestedTimeoutMs(), negotiatedMs: negotiated };
    if (negotiated < this.requestedTimeoutMs()) {
      this.options.logger.warn(log, 'ZooKeeper granted a shorter session timeout than ttl (its maxSessionTimeout); the leader hold uses the granted one');
    } else {
      this.options.logger.info(log, 'ZooKeeper session established');
    }
    this.watches = new Map();
    this.armWatches(session);
    if (this.memberValue !== null) {
      const value = this.memberValue;
      this.writeOwnMember(value, this.deadline()).catch((e: unknown) =>
        this.options.logger.warn({ err: e, session: session.sessionId }, 'could not re-create our member znode in the new session'),
      );
    }
    // Whatever we held in the previous session may be gone: let the loop look.
    this.notify(KEY.leader);
  }

  private onEnded(session: ZooKeeperSession, end: SessionEnd): void {
    if (session !== this.session) {
      this.wakeWaiters(); // a replacement being prepared by setTiming failed
      return;
    }
    this.session = null;
    this.lastEnd = end;
    this.validUntil = null;
    this.memberSession = null;
    this.watches = new Map();
    const connected = session.sessionId !== null;
    this.options.logger.warn({ hosts: this.settings.connectString, session: session.sessionId, end }, 'ZooKeeper session ended');
    this.wakeWaiters();
    if (this.closed) return;
    this.notify(KEY.leader);
    // A session that never connected (child cannot start, authentication refused) is retried
    // with backoff; after a real session, a new one is opened at once.
    this.restartDelayMs = connected ? 0 : Math.min(Math.max(this.restartDelayMs * 2, 500), 10_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closed || this.session) return;
      this.session = this.openSession();
      this.wakeWaiters();
    }, this.restartDelayMs);
    this.restartTimer.unref();
  }

  /**
   * setTiming with a new ttl: a new session with the new timeout replaces the old one. Our member
   * znode and, if we hold it, the leader znode move to the new session before the old one is
   * closed, so holding the lock survives the change (a candidate could only win the instant
   * between the conditional delete and the create).
   */
  private async replaceSession(old: ZooKeeperSession, deadline: number): Promise<void> {
    const next = this.openSession();
    const connected = await this.waitFor(() => next.state === 'connected' || next.state === 'ended', deadline);
    if (!connected || next.state !== 'connected') {
      await next.end(false);
      throw this.unavailable(`could not open a ZooKeeper session with the new ttl (${this.timing.ttl} s) within the deadline`);
    }
    const oldId = old.sessionId;
    this.session = next;
    this.validUntil = null;
    this.memberSession = null;
    this.established(next);
    const path = this.path(KEY.leader);
    let moved = false;
    try {
      const r = await this.exec({ op: 'get', path }, deadline);
      if (r.rc === ZRC.ok && r.data === this.options.name && r.stat?.owner === oldId) {
        const d = await this.exec({ op: 'delete', path, version: r.stat.version }, deadline);
        if (d.rc === ZRC.ok) await this.create(path, this.options.name, true, deadline);
      }
      moved = true;
    } catch (e) {
      // The leader znode (if ours) stays with the old session, which is left to expire rather
      // than closed: the next renewLeader adopts it into the new session.
      this.options.logger.warn({ err: e, path }, 'could not move the leader znode to the new session; renew will adopt it');
    } finally {
      await old.end(moved);
    }
  }

  /**
   * A sync every HEARTBEAT_MS keeps the hold fresh between HA cycles and keeps the gap between
   * our session's activity small, which bounds how far an ensemble leader's view of the session
   * can trail ours (see the file comment).
   */
  private beat(): void {
    const session = this.session;
    if (this.heartbeatInFlight || this.closed || session?.state !== 'connected') return;
    this.repairAcls();
    this.heartbeatInFlight = true;
    this.exec({ op: 'sync', path: '/' }, this.options.clock.now() + HEARTBEAT_MS * 2)
      .catch(() => undefined) // a failed beat only means the hold is not moved
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  // ---- watches --------------------------------------------------------------------------------

  private armWatches(session: ZooKeeperSession): void {
    for (const key of WATCHED) this.arm(session, key);
    if (this.memberValue !== null) this.arm(session, MEMBERS);
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
    if (this.closed || session !== this.session || session.state !== 'connected') return;
    if ((this.watches.get(key) ?? 'idle') !== 'idle') return;
    this.watches.set(key, 'pending');
    this.stats.watchRegistrations++;
    const children = key === MEMBERS;
    void session.call({ op: children ? 'watch_children' : 'watch', path: this.path(key) }, Number.POSITIVE_INFINITY).then((result) => {
      if (session !== this.session) return;
      // An exists-watch is set whether or not the node exists; a child watch only on a node that does.
      if (result.kind === 'reply' && (result.reply.rc === ZRC.ok || (!children && result.reply.rc === ZRC.noNode))) {
        if (this.watches.get(key) === 'pending') this.watches.set(key, 'armed');
        if (children) this.memberListing(result.reply.children ?? []);
        else if (afterFire) this.notify(key);
        return;
      }
      this.watches.set(key, 'idle');
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

  private onFired(session: ZooKeeperSession, path: string, _type: number): void {
    if (session !== this.session) return;
    const key = ([...WATCHED, MEMBERS] as const).find((k) => this.path(k) === path);
    if (key === undefined) return;
    this.stats.watchFires++;
    this.watches.set(key, 'idle');
    this.arm(session, key, true);
    if (key !== MEMBERS) this.notify(key);
  }

  private notify(key: string, created = false): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(created ? { key, created: true } : { key });
      } catch (e) {
        this.options.logger.error({ err: e, key }, 'a DCS watch listener threw');
      }
    }
  }

  // ---- calls ----------------------------------------------------------------------------------

  private path(key: string): string {
    return `${this.base}/${key}`;
  }

  private deadline(options?: CallOptions): number {
    return this.options.clock.now() + (options?.timeoutMs ?? this.timing.retryTimeout * 1000);
  }

  private refreshHold(session: ZooKeeperSession, sentAt: number): void {
    if (session !== this.session || session.timeoutMs === null) return;
    const until = sentAt + session.timeoutMs;
    if (this.validUntil === null || until > this.validUntil) this.validUntil = until;
  }

  /**
   * Sends one request on the current session, within `deadline`. Resolves with any answer the
   * server gave (the caller interprets the code); rejects DCS_UNAVAILABLE when there was none.
   * While a connected session is reconnecting, calls fail at once instead of queueing (as Patroni
   * does): a queued request would only answer after the loop's decision had to be made. A session
   * that has not connected yet (start-up, or just replaced) is waited for within the deadline.
   */
  private async exec(request: Request, deadline: number, onSent?: () => void): Promise<Answer> {
    const session = await this.usableSession(deadline, request);
    onSent?.();
    const result = await session.call(request, deadline - this.options.clock.now());
    if (this.closed) throw this.closedError();
    const what = `${request.op} ${'path' in request ? request.path : ''}`;
    if (result.kind === 'timeout') {
      throw this.unavailable(`ZooKeeper (${this.settings.connectString}) did not answer ${what} before the deadline`);
    }
    if (result.kind === 'ended') throw this.unavailable(`the ZooKeeper session ended during ${what}`);
    if (SERVER_ANSWERS.has(result.reply.rc) && LEADER_ROUTED.has(request.op)) this.refreshHold(session, result.sentAt);
    return { ...result.reply, sessionId: session.sessionId ?? '' };
  }

  private async usableSession(deadline: number, request: Request): Promise<ZooKeeperSession> {
    for (;;) {
      if (this.closed) throw this.closedError();
      const s = this.session;
      if (s?.state === 'connected') return s;
      const what = `${request.op} ${'path' in request ? request.path : ''}`;
      if (s?.state === 'connecting') {
        throw this.unavailable(`not connected to ZooKeeper (${this.settings.connectString}); reconnecting, ${what} not sent`);
      }
      if (this.lastEnd?.kind === 'closed' && this.lastEnd.code === CLOSE_CODE.authFailed) {
        throw new DcsError(DcsErrorCode.Rejected, `ZooKeeper (${this.settings.connectString}) refused our credentials (zookeeper.auth_data)`);
      }
      if (!(await this.waitFor(() => this.session?.state === 'connected' || this.closed, deadline))) {
        throw this.unavailable(`could not connect to ZooKeeper (${this.settings.connectString}) before the deadline; ${what} not sent`);
      }
    }
  }

  /** Waits until `ready()` or the deadline; true if ready. */
  private async waitFor(ready: () => boolean, deadline: number): Promise<boolean> {
    while (!ready()) {
      const left = deadline - this.options.clock.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.stateWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, timerDelay(left));
        this.stateWaiters.add(wake);
      });
    }
    return true;
  }

  private wakeWaiters(): void {
    for (const wake of [...this.stateWaiters]) wake();
  }

  /**
   * create, making missing parents (persistent, empty) on the way, as kazoo's makepath does. With
   * `set_acls`, every znode created here, parents included, gets that ACL (`createOne`); existing
   * parents are left as they are, whatever their ACL.
   */
  private async create(path: string, data: string, ephemeral: boolean, deadline: number): Promise<Answer> {
    const r = await this.createOne(path, data, ephemeral, deadline);
    if (r.rc !== ZRC.noNode) return r;
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const parent = `/${parts.slice(0, i).join('/')}`;
      const p = await this.createOne(parent, '', false, deadline);
      if (p.rc !== ZRC.ok && p.rc !== ZRC.nodeExists) throw this.failure(p, 'create', parent);
    }
    return this.createOne(path, data, ephemeral, deadline);
  }

  /**
   * One create; with an ACL configured, the session process sets it right after the create
   * succeeds (the npm client can only create `world:anyone` znodes) and reads the Stat back.
   * For one round trip the znode is open to anyone. What happens in that window is checked:
   * - the setACL (ACL version 0) failed because the server refused it (someone changed the ACL
   *   first, or the ACL itself is invalid): the znode is deleted (a persistent one only if nobody
   *   wrote it since: data version 0) and the create rejected, so no world-open znode stays;
   * - our ephemeral's data changed (its version is no longer 0; only its creator writes it): it is
   *   deleted and the create rejected;
   * - no answer (connection loss): the heartbeat sets the ACL again (`repairAcls`) once the
   *   session is back, and the create is reported unavailable.
   * A refused create (NOAUTH on the parent, NODEEXISTS) sends no setACL: a znode pgha did not
   * create keeps its ACL.
   */
  private async createOne(path: string, data: string, ephemeral: boolean, deadline: number): Promise<Answer> {
    const acl = this.settings.acl;
    if (acl.length === 0) return this.exec({ op: 'create', path, data, ephemeral }, deadline);
    let sent = false;
    let r: Answer;
    try {
      r = await this.exec({ op: 'create', path, data, ephemeral, acl }, deadline, () => (sent = true));
    } catch (e) {
      // Sent but unanswered: created or not, we cannot tell; if it was, its ACL may not be set.
      if (sent) this.aclPending.add(path);
      throw e;
    }
    if (r.rc !== ZRC.ok) return r;
    if (r.aclRc === ZRC.ok) {
      if (!ephemeral || r.stat === undefined || r.stat.version === 0) return r;
      await this.exec({ op: 'delete', path, version: -1 }, deadline).catch(() => undefined);
      throw new DcsError(DcsErrorCode.Rejected, `ZooKeeper ${path}: another client changed our new znode before its ACL was set; deleted it`, {
        hint: 'an unauthenticated client races pgha\'s creates: keep ZooKeeper reachable only from trusted hosts',
      });
    }
    if (r.aclRc === undefined || !SERVER_ANSWERS.has(r.aclRc)) {
      this.aclPending.add(path);
      throw this.unavailable(`ZooKeeper (${this.settings.connectString}) created ${path} but its ACL could not be set yet (${r.aclRc ?? '?'} ${r.message ?? ''}); retried in the background`);
    }
    // Our ephemeral is only ours to write; a persistent znode written since by another agent is kept.
    const removed = await this.exec({ op: 'delete', path, version: ephemeral ? -1 : 0 }, deadline).then(
      (d) => d.rc === ZRC.ok || d.rc === ZRC.noNode,
      () => false,
    );
    throw new DcsError(
      DcsErrorCode.Rejected,
      `ZooKeeper (${this.settings.connectString}) refused the ACL of ${path} (zookeeper.set_acls): ${r.aclRc} ${r.message ?? ''}; ${removed ? 'the znode was deleted' : 'the znode could not be deleted'}`,
      { hint: r.aclRc === ZRC.invalidAcl ? 'the server has no authentication provider for a scheme of zookeeper.set_acls, or an id is malformed' : 'another client changed the znode\'s ACL before pgha set it' },
    );
  }

  /**
   * Sets the ACL of znodes whose create went unanswered or whose setACL did not reach the server.
   * ACL version 0: only a znode whose ACL nobody has set since its creation is changed.
   */
  private repairAcls(): void {
    if (this.aclPending.size === 0 || this.aclRepairInFlight) return;
    this.aclRepairInFlight = true;
    const deadline = this.options.clock.now() + HEARTBEAT_MS * 2;
    const paths = [...this.aclPending];
    void Promise.all(
      paths.map(async (path) => {
        const r = await this.exec({ op: 'set_acl', path, version: 0, acl: this.settings.acl }, deadline).catch(() => null);
        if (r === null) return;
        this.aclPending.delete(path);
        if (r.rc === ZRC.ok || r.rc === ZRC.noNode) return;
        // BADVERSION: someone set it already (a create of ours that did go through, or another
        // client in the window); NOAUTH: the ACL is ours already or another's. Either way not world-open by us.
        if (r.rc !== ZRC.badVersion && r.rc !== ZRC.noAuth) {
          this.options.logger.error({ path, rc: r.rc, message: r.message }, 'could not set the ACL of a znode pgha created (zookeeper.set_acls)');
        }
      }),
    ).finally(() => {
      this.aclRepairInFlight = false;
    });
  }

  /** After an ambiguous acquire: true if the leader znode is ours, false if someone else's, null if unknown. */
  private async readBackLeader(deadline: number): Promise<boolean | null> {
    const r = await this.exec({ op: 'get', path: this.path(KEY.leader) }, deadline);
    if (r.rc !== ZRC.ok) return null;
    return r.data === this.options.name && r.stat?.owner === r.sessionId;
  }

  /**
   * Writes our member znode as an ephemeral of the current session: overwrite it when we know it
   * is ours, else create it; one left by an earlier session of ours (or a persistent one) is
   * deleted and re-created, so it vanishes with our session. One of another driver's session is
   * a live agent with our name: left alone, DCS_CONFLICT.
   */
  private async writeOwnMember(value: string, deadline: number): Promise<void> {
    const path = this.path(memberKey(this.options.name));
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = this.session?.sessionId ?? null;
      if (current !== null && this.memberSession === current) {
        const s = await this.exec({ op: 'set', path, data: value, version: -1 }, deadline);
        // Ours unless it was deleted and re-created meanwhile (by an agent of our name, say).
        if (s.rc === ZRC.ok && s.sessionId === current && (s.stat?.owner === undefined || s.stat.owner === current)) return;
        if (s.rc !== ZRC.noNode && s.rc !== ZRC.ok) throw this.failure(s, 'set', path);
        this.memberSession = null;
        continue;
      }
      const c = await this.create(path, value, true, deadline);
      if (c.rc === ZRC.ok) {
        this.memberSession = c.sessionId;
        return;
      }
      if (c.rc !== ZRC.nodeExists) throw this.failure(c, 'create', path);
      const g = await this.exec({ op: 'get', path }, deadline);
      if (g.rc === ZRC.noNode) continue;
      this.expect(g, 'read', path);
      if (g.stat?.owner === g.sessionId) {
        this.memberSession = g.sessionId;
        continue;
      }
      if (g.stat?.owner !== undefined && !this.ownsSession(g.stat.owner)) {
        throw new DcsError(DcsErrorCode.Conflict, `ZooKeeper ${path} belongs to session ${g.stat.owner} of another agent named ${this.options.name}; not replaced`, {
          hint: 'two agents run with the same name: give each node its own `name`',
        });
      }
      this.options.logger.info({ path, owner: g.stat?.owner ?? null, session: g.sessionId }, 'our member znode belongs to an earlier session of ours; re-creating it');
      const d = await this.exec({ op: 'delete', path, version: g.stat?.version ?? -1 }, deadline);
      if (d.rc !== ZRC.ok && d.rc !== ZRC.noNode && d.rc !== ZRC.badVersion) throw this.failure(d, 'delete', path);
    }
    throw this.unavailable(`our member znode ${path} kept changing under us; not written`);
  }

  // ---- errors ---------------------------------------------------------------------------------

  /** Throws unless the answer is a success. */
  private expect(r: Answer, op: string, path: string): void {
    if (r.rc !== ZRC.ok) throw this.failure(r, op, path);
  }

  private failure(r: Reply, op: string, path: string): DcsError {
    const detail = `ZooKeeper (${this.settings.connectString}) ${op} ${path}: ${r.rc} ${r.message ?? ''}`.trim();
    if (r.rc === ZRC.noAuth || r.rc === ZRC.authFailed || r.rc === ZRC.invalidAcl) {
      return new DcsError(DcsErrorCode.Rejected, detail, { hint: 'check zookeeper.auth_data and the znode ACLs' });
    }
    if (SERVER_ANSWERS.has(r.rc) || r.rc === ZRC.badArguments) return new DcsError(DcsErrorCode.Rejected, detail);
    return this.unavailable(detail);
  }

  private unavailable(message: string): DcsError {
    return new DcsError(DcsErrorCode.Unavailable, message);
  }

  private closedError(): DcsError {
    return new DcsError(DcsErrorCode.Closed, `the ZooKeeper driver for ${this.prefix} was closed`);
  }
}

/** Creates the driver; throws `DCS_CONFIG` for an invalid `zookeeper:` section. Connects in the background. */
export function createZooKeeperDriver(options: DriverOptions): ZooKeeperDriver {
  return new ZooKeeperDcsDriver(options);
}
