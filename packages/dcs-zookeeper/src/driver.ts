/**
 * The ZooKeeper driver, in Patroni's layout: `leader` and `members/<name>` are ephemeral znodes of
 * our session, every other key a persistent znode; compare-and-set uses the znode version.
 *
 * The session lives in a child process (see `session-client.ts` for why), managed by
 * `session-manager.ts`, which also times the leader hold. `load()` is served from a copy of the
 * cluster kept by watches (`cluster-cache.ts`, which says why that is as fresh as a read) and
 * read in full after a lost connection or session. When a session ends the driver's member
 * znode is re-created in the next one (`member.ts`) and the copy rebuilt, arming every watch. The
 * leader lock's rules (whose znode is ours, what is never taken over) are in `leader-znode.ts`.
 */
import {
  clusterPrefix,
  KEY,
  memberKey,
  type CallOptions,
  type DcsError,
  type DcsDriver,
  type DcsTiming,
  type DriverOptions,
  type DriverReconfiguration,
  type Expectation,
  type RawCluster,
  type SessionHold,
  type StoredKey,
  type WatchEvent,
} from '@pgha/dcs';
import { beforeDeadline, ZooKeeperCalls, type Answer } from './calls.js';
import { ClusterCache, type CacheInfo } from './cluster-cache.js';
import { parseZooKeeperSection, type ZooKeeperSettings } from './config.js';
import { closedError, unavailable } from './errors.js';
import { LeaderZnode } from './leader-znode.js';
import { OwnMemberZnode } from './member.js';
import { planHostChange } from './reconfigure.js';
import { ZRC, type Request } from './protocol.js';
import type { ZooKeeperSession } from './session-client.js';
import { IDLE_ALLOWANCE_MS, SessionManager } from './session-manager.js';
import { SyncPoint } from './sync-point.js';

/**
 * Period of the lock holder's heartbeat (a sync through the ensemble leader), in ms: the idle
 * gap the hold allows without discount (`session-manager.ts`).
 */
const HEARTBEAT_MS = IDLE_ALLOWANCE_MS;

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
  /** The watch-fed copy of the cluster (`cluster-cache.ts`). */
  cache: CacheInfo;
  /** Syncs sent (heartbeats, loads and renewals), over the driver's life. */
  syncs: number;
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
  private readonly sessions: SessionManager;
  private readonly calls: ZooKeeperCalls;
  private readonly cache: ClusterCache;
  private readonly member: OwnMemberZnode;
  private readonly heartbeat: NodeJS.Timeout;
  private heartbeatInFlight = false;
  private readonly leader: LeaderZnode;
  private readonly syncs: SyncPoint;
  private readonly options: DriverOptions;

  constructor(options: DriverOptions) {
    this.options = options;
    this.settings = parseZooKeeperSection(options.section, options.logger);
    this.timing = { ttl: options.ttl, loopWait: options.loopWait, retryTimeout: options.retryTimeout };
    this.prefix = clusterPrefix(options.namespace, options.scope);
    this.base = this.prefix.replace(/\/$/, '');
    const { clock, logger } = options;
    this.sessions = new SessionManager({
      settings: this.settings,
      prefix: this.prefix,
      ttl: options.ttl,
      clock,
      logger,
      hooks: {
        established: (session) => this.established(session),
        disconnected: () => this.cache.invalidate(),
        reconnected: (session) => this.reconnected(session),
        lost: (_session, closing) => this.lost(closing),
        fired: (session, path, type) => this.cache.fired(session, path, type),
      },
    });
    this.calls = new ZooKeeperCalls({ sessions: this.sessions, settings: this.settings, prefix: this.prefix, clock, logger });
    this.cache = new ClusterCache({ base: this.base, logger, clock, closed: () => this.sessions.closed });
    this.syncs = new SyncPoint({
      exec: (request, deadline) => this.exec(request, deadline),
      failure: (r, op, path) => this.failure(r, op, path),
    });
    this.leader = new LeaderZnode({ name: options.name, path: this.path(KEY.leader), calls: this.calls, sessions: this.sessions, cache: this.cache, syncs: this.syncs, logger });
    this.member = new OwnMemberZnode({ name: options.name, path: this.path(memberKey(options.name)), calls: this.calls, sessions: this.sessions, logger });
    this.sessions.start();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  // ---- contract -------------------------------------------------------------------------------

  /**
   * From the watch-fed copy after a sync (`cluster-cache.ts`) when it is current on the session
   * in use; otherwise a full read, which also arms every watch and makes the copy current.
   */
  async load(options?: CallOptions): Promise<RawCluster> {
    const deadline = this.deadline(options);
    const session = await this.sessions.usable(deadline, { op: 'children', path: this.base });
    if (this.cache.isCurrent(session)) {
      await this.syncs.sync(deadline);
      const cached = await this.cache.serve(session, deadline);
      if (cached) return cached;
    }
    try {
      await beforeDeadline(this.cache.rebuild(session), deadline, () => unavailable(`ZooKeeper (${this.settings.connectString}) did not answer the read of ${this.base} before the deadline`), this.options.clock);
    } catch (e) {
      const refusal = ClusterCache.refusal(e);
      if (refusal) throw this.failure({ ...refusal.reply, sessionId: session.sessionId ?? '' }, 'read', refusal.path);
      throw e;
    }
    const read = await this.cache.serve(session, deadline, false);
    if (!read) throw unavailable(`the ZooKeeper connection was lost while reading ${this.base}`);
    return read;
  }

  async acquireLeader(options?: CallOptions): Promise<boolean> {
    return this.leader.acquire(this.deadline(options));
  }

  async renewLeader(options?: CallOptions): Promise<boolean> {
    return this.leader.renew(this.deadline(options));
  }

  async releaseLeader(options?: CallOptions): Promise<boolean> {
    return this.leader.release(this.deadline(options));
  }

  async touchMember(value: string, options?: CallOptions): Promise<void> {
    await this.member.touch(value, this.deadline(options));
  }

  async deleteMember(name: string, options?: CallOptions): Promise<boolean> {
    const path = this.path(memberKey(name));
    const d = await this.exec({ op: 'delete', path, version: -1 }, this.deadline(options));
    if (name === this.options.name) this.member.forgetSession();
    if (d.rc === ZRC.ok) return true;
    if (d.rc === ZRC.noNode) return false;
    throw this.failure(d, 'delete', path);
  }

  async write(key: StoredKey, value: string, expect: Expectation, options?: CallOptions): Promise<boolean> {
    const deadline = this.deadline(options);
    const path = this.path(key);
    if (expect.kind === 'absent') {
      const c = await this.calls.create(path, value, false, deadline);
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
      const c = await this.calls.create(path, value, false, deadline);
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
    await this.calls.removeTree(this.base, this.deadline(options));
    this.member.forget();
  }

  ownsSession(owner: string): boolean {
    return this.sessions.owns(owner);
  }

  adoptSession(owner: string): void {
    this.sessions.adopt(owner);
  }

  watch(listener: (event: WatchEvent) => void): () => void {
    if (this.sessions.closed) return () => undefined;
    return this.cache.listen(listener);
  }

  hold(): SessionHold {
    return this.sessions.hold();
  }

  async setTiming(timing: DcsTiming): Promise<void> {
    if (this.sessions.closed) throw closedError(this.prefix);
    const ttlChanged = timing.ttl !== this.timing.ttl;
    const previous = this.timing;
    this.timing = { ...timing };
    this.sessions.ttl = timing.ttl;
    const old = this.sessions.current();
    if (!ttlChanged || !old || old.state === 'ended') return; // the next session uses the new ttl
    if (old.sessionId === null) {
      // Not connected yet: nothing lives in it, start over with the new timeout.
      await this.sessions.reopen(old);
      return;
    }
    try {
      await this.replaceSession(old, this.deadline());
    } catch (e) {
      this.timing = previous;
      this.sessions.ttl = previous.ttl;
      throw e;
    }
  }

  /**
   * See DcsDriver.reconfigure: new `hosts` in place (reconfigure.ts). The settings the session
   * manager opens sessions with change first, so a session opened after this one uses the new
   * list; the current one is handed the list and keeps its session through a reconnect.
   */
  async reconfigure(section: Record<string, unknown>): Promise<DriverReconfiguration> {
    if (this.sessions.closed) throw closedError(this.prefix);
    const next = parseZooKeeperSection(section, this.options.logger);
    const { hosts, restartRequired } = planHostChange(this.settings, next);
    if (!hosts) return { applied: [], restartRequired };
    const before = this.settings.hosts.join(',');
    // The one settings object is shared with the session manager and the calls: changed in place.
    this.settings.hosts = hosts;
    this.settings.connectString = hosts.join(',') + this.settings.chroot;
    const session = this.sessions.current();
    if (session && session.state !== 'ended') {
      const r = await session.call({ op: 'set_servers', hosts: hosts.join(',') }, this.timing.retryTimeout * 1000);
      if (r.kind !== 'reply' || r.reply.rc !== ZRC.ok) {
        // The session process is gone or hung: the session manager replaces it, with the new hosts.
        this.options.logger.warn({ hosts: this.settings.connectString, result: r.kind === 'reply' ? r.reply.rc : r.kind }, 'zookeeper: the current session did not take the new hosts; the next one uses them');
      }
    }
    return { applied: [`zookeeper hosts: ${before} → ${hosts.join(',')}`], restartRequired };
  }

  async close(options?: { revoke?: boolean }): Promise<void> {
    if (this.sessions.closed) return;
    clearInterval(this.heartbeat);
    this.leader.leading = false;
    this.cache.clear();
    await this.sessions.close(options?.revoke === true);
  }

  whenConnected(timeoutMs: number): Promise<boolean> {
    return this.sessions.whenConnected(timeoutMs);
  }

  inspect(): ZooKeeperDriverInfo {
    const s = this.sessions.current();
    return {
      state: this.sessions.state(),
      sessionId: s?.sessionId ?? null,
      negotiatedTimeoutMs: s?.timeoutMs ?? null,
      pid: s?.pid,
      sessionsStarted: this.sessions.sessionsStarted,
      cache: this.cache.info(),
      syncs: this.syncs.sent,
    };
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** A new session is the current one: read the cluster (arming its watches), restore our member znode, let the loop look. */
  private established(session: ZooKeeperSession): void {
    this.cache.invalidate();
    this.refreshCache(session);
    this.member.restore(session.sessionId, () => this.deadline());
    // Whatever we held in the previous session may be gone: let the loop look.
    this.cache.notify(KEY.leader);
  }

  /**
   * The session is back on a connection. Changes made while we were away may have fired
   * nothing yet, so the copy (dropped at the disconnect) is read again in full, re-arming every
   * watch; the event lets the loop look at once.
   */
  private reconnected(session: ZooKeeperSession): void {
    this.refreshCache(session);
    this.cache.notify(KEY.leader);
  }

  private lost(closing: boolean): void {
    this.leader.leading = false;
    this.member.forgetSession();
    this.cache.invalidate();
    if (!closing) this.cache.notify(KEY.leader);
  }

  /** Full read in the background (a failure leaves the copy invalid: the next load reads again). */
  private refreshCache(session: ZooKeeperSession): void {
    this.cache.rebuild(session).catch((e: unknown) => this.options.logger.info({ err: e }, 'could not read the cluster after (re)connecting; the next load reads it'));
  }

  /**
   * setTiming with a new ttl: a new session with the new timeout replaces the old one. Our member
   * znode and, if we hold it, the leader znode move to the new session before the old one is
   * closed, so holding the lock survives the change (a candidate could only win the instant
   * between the conditional delete and the create).
   */
  private async replaceSession(old: ZooKeeperSession, deadline: number): Promise<void> {
    const oldId = old.sessionId;
    await this.sessions.replace(deadline);
    let moved = false;
    try {
      await this.leader.moveFrom(oldId, deadline);
      moved = true;
    } catch (e) {
      // The leader znode (if ours) stays with the old session, which is left to expire rather
      // than closed: the next renewLeader adopts it into the new session.
      this.options.logger.warn({ err: e, path: this.path(KEY.leader) }, 'could not move the leader znode to the new session; renew will adopt it');
    } finally {
      await old.end(moved);
    }
  }

  /**
   * While we hold the lock, a sync every HEARTBEAT_MS keeps the hold fresh between HA cycles and
   * keeps the gap between our session's activity small, which bounds how far an ensemble
   * leader's view of the session can trail ours (see `session-manager.ts`). A member without the
   * lock sends nothing here: the client's own pings keep its session, its loads sync, and a hold
   * it gains after a silence is discounted for it. The beat also retries setting ACLs that a
   * lost answer left unset (`ZooKeeperCalls.repairAcls`).
   */
  private beat(): void {
    const session = this.sessions.current();
    if (this.heartbeatInFlight || this.sessions.closed || session?.state !== 'connected') return;
    this.calls.repairAcls(this.options.clock.now() + HEARTBEAT_MS * 2);
    if (!this.leader.leading) return;
    this.heartbeatInFlight = true;
    this.syncs.sync(this.options.clock.now() + HEARTBEAT_MS * 2)
      .catch(() => undefined) // a failed beat only means the hold is not moved
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  // ---- calls ----------------------------------------------------------------------------------

  private path(key: string): string {
    return `${this.base}/${key}`;
  }

  private deadline(options?: CallOptions): number {
    return this.options.clock.now() + (options?.timeoutMs ?? this.timing.retryTimeout * 1000);
  }

  private exec(request: Request, deadline: number): Promise<Answer> {
    return this.calls.exec(request, deadline);
  }

  private failure(r: Answer, op: string, path: string): DcsError {
    return this.calls.failure(r, op, path);
  }
}

/** Creates the driver; throws `DCS_CONFIG` for an invalid `zookeeper:` section. Connects in the background. */
export function createZooKeeperDriver(options: DriverOptions): ZooKeeperDriver {
  return new ZooKeeperDcsDriver(options);
}
