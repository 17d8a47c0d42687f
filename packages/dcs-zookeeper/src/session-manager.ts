/**
 * Which ZooKeeper session is the driver's current one, and what it proves. One session process
 * holds one session (`session-client.ts`); when a session ends (expired, child died or hung) a
 * new one is opened, and the driver is told through the hooks so it can restore what lived in it.
 *
 * The hold is timed here, not by the library: an answer to a request that went through the
 * ensemble leader (a write or a sync) moves `validUntil` to the request's send time plus the
 * negotiated session timeout, because the server restarts the session's expiry on every request
 * it receives. A frozen server therefore shows up as a hold that runs out, before the server could
 * expire the session. Residual in an ensemble: followers relay session activity to the leader
 * every tickTime/2, so a follower cut off right after answering can leave the leader's expiry up
 * to one relay plus our idle gap earlier than `validUntil`. The driver's 1 s heartbeat bounds that
 * gap while it holds the lock; a request after a longer silence (an idle member acquiring the
 * lock, say) counts the part of the gap beyond `IDLE_ALLOWANCE_MS` against its hold, so the
 * residual stays within one relay plus that allowance whoever sends.
 */
import { DcsError, DcsErrorCode, timerDelay, type Logger, type MonotonicClock, type SessionHold } from '@pgha/dcs';
import type { ZooKeeperSettings } from './config.js';
import { closedError, requestLabel, unavailable } from './errors.js';
import { CLOSE_CODE, type Request } from './protocol.js';
import { ZooKeeperSession, type SessionEnd } from './session-client.js';

/**
 * The idle gap between two leader-routed answers that the hold tolerates without discount: the
 * driver's heartbeat period while it holds the lock (see the file comment).
 */
export const IDLE_ALLOWANCE_MS = 1000;

/** What the driver does when the current session changes. Each hook is given that session. */
export interface SessionHooks {
  /** A session became the current one and is connected: restore what lives in a session. */
  established(session: ZooKeeperSession): void;
  /** The current session lost its connection (it may reconnect and keep its ephemerals). */
  disconnected(session: ZooKeeperSession): void;
  /** The current session reconnected; it kept its ephemerals and live watches. */
  reconnected(session: ZooKeeperSession): void;
  /** The current session ended, taking its ephemerals and watches. `closing`: the driver is being closed. */
  lost(session: ZooKeeperSession, closing: boolean): void;
  /** A watch registered on the session fired (it may no longer be the current one). */
  fired(session: ZooKeeperSession, path: string, type: number): void;
}

export interface SessionManagerOptions {
  settings: ZooKeeperSettings;
  /** The driver's prefix, for DCS_CLOSED messages. */
  prefix: string;
  /** The requested session timeout, in seconds (the driver's ttl). */
  ttl: number;
  clock: MonotonicClock;
  logger: Logger;
  hooks: SessionHooks;
}

export type SessionManagerState = 'starting' | 'connected' | 'connecting' | 'none' | 'closed';

export class SessionManager {
  /** The requested session timeout in seconds; a new value applies to the next session opened. */
  ttl: number;
  closed = false;
  /** Sessions started so far (1 + replacements). */
  sessionsStarted = 0;

  private session: ZooKeeperSession | null = null;
  private lastEnd: SessionEnd | null = null;
  private validUntil: number | null = null;
  /** Per session, the send time of its latest leader-routed answer (its open time before any). */
  private readonly lastProofSentAt = new WeakMap<ZooKeeperSession, number>();
  private negotiatedMs: number | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelayMs = 0;
  private readonly stateWaiters = new Set<() => void>();
  /** Ids of the sessions this driver opened, newest last (bounded: only recent ones can still own a znode). */
  private readonly ownSessions: string[] = [];
  private readonly options: SessionManagerOptions;

  constructor(options: SessionManagerOptions) {
    this.options = options;
    this.ttl = options.ttl;
  }

  /** Opens the first session (in the background). */
  start(): void {
    this.session = this.open();
  }

  /** The current session (null between sessions and after close). */
  current(): ZooKeeperSession | null {
    return this.session;
  }

  state(): SessionManagerState {
    const s = this.session;
    return this.closed ? 'closed' : (s?.state === 'ended' || !s ? 'none' : s.state);
  }

  hold(): SessionHold {
    return { validUntil: this.validUntil, ttl: (this.negotiatedMs ?? this.requestedTimeoutMs()) / 1000 };
  }

  /** An answer through the ensemble leader to a request sent at `sentAt` on `session` (see the file comment). */
  refreshHold(session: ZooKeeperSession, sentAt: number): void {
    if (session !== this.session || session.timeoutMs === null) return;
    const last = this.lastProofSentAt.get(session) ?? sentAt;
    const gap = sentAt - last;
    this.lastProofSentAt.set(session, Math.max(last, sentAt));
    const until = sentAt + session.timeoutMs - Math.max(0, gap - IDLE_ALLOWANCE_MS);
    if (this.validUntil === null || until > this.validUntil) this.validUntil = until;
  }

  owns(owner: string): boolean {
    return this.ownSessions.includes(owner);
  }

  adopt(owner: string): void {
    if (!this.ownSessions.includes(owner)) this.ownSessions.unshift(owner);
  }

  /**
   * The session to send a request on, within `deadline`. While a connected session is
   * reconnecting, calls fail at once instead of queueing (as Patroni does): a queued request
   * would only answer after the loop's decision had to be made. A session that has not connected
   * yet (start-up, or just replaced) is waited for within the deadline.
   */
  async usable(deadline: number, request: Request): Promise<ZooKeeperSession> {
    const hosts = this.options.settings.connectString;
    for (;;) {
      if (this.closed) throw closedError(this.options.prefix);
      const s = this.session;
      if (s?.state === 'connected') return s;
      const what = requestLabel(request);
      if (s?.state === 'connecting') {
        throw unavailable(`not connected to ZooKeeper (${hosts}); reconnecting, ${what} not sent`);
      }
      if (this.lastEnd?.kind === 'closed' && this.lastEnd.code === CLOSE_CODE.authFailed) {
        throw new DcsError(DcsErrorCode.Rejected, `ZooKeeper (${hosts}) refused our credentials (zookeeper.auth_data)`);
      }
      if (!(await this.waitFor(() => this.session?.state === 'connected' || this.closed, deadline))) {
        throw unavailable(`could not connect to ZooKeeper (${hosts}) before the deadline; ${what} not sent`);
      }
    }
  }

  /** Resolves true once a session is connected, false after `timeoutMs` or on close (never rejects). */
  whenConnected(timeoutMs: number): Promise<boolean> {
    return this.waitFor(() => this.closed || this.session?.state === 'connected', this.options.clock.now() + timeoutMs).then(
      (ready) => ready && !this.closed,
    );
  }

  /** The current session never connected (nothing lives in it): start over with the current ttl. */
  async reopen(old: ZooKeeperSession): Promise<void> {
    this.session = this.open();
    await old.end(false);
  }

  /**
   * Opens a session with the current ttl and makes it the current one once it is connected; the
   * old one is left to the caller, which moves what it holds and then ends it. Rejects
   * DCS_UNAVAILABLE (the old session stays current) when none connects within `deadline`.
   */
  async replace(deadline: number): Promise<ZooKeeperSession> {
    const next = this.open();
    const connected = await this.waitFor(() => next.state === 'connected' || next.state === 'ended', deadline);
    if (!connected || next.state !== 'connected') {
      await next.end(false);
      throw unavailable(`could not open a ZooKeeper session with the new ttl (${this.ttl} s) within the deadline`);
    }
    this.session = next;
    this.validUntil = null;
    this.established(next);
    return next;
  }

  async close(revoke: boolean): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const session = this.session;
    this.session = null;
    this.validUntil = null;
    this.wakeWaiters();
    await session?.end(revoke);
  }

  private requestedTimeoutMs(): number {
    return Math.round(this.ttl * 1000);
  }

  private open(): ZooKeeperSession {
    this.sessionsStarted++;
    const openedAt = this.options.clock.now();
    const { settings, logger, clock, hooks } = this.options;
    const session: ZooKeeperSession = new ZooKeeperSession({
      connect: settings.connectString,
      timeoutMs: this.requestedTimeoutMs(),
      auth: settings.auth,
      clock,
      events: {
        connected: (first) => {
          if (first && session.sessionId !== null) this.remember(session.sessionId);
          this.onConnected(session, first);
        },
        connecting: () => {
          this.wakeWaiters();
          if (session !== this.session) return;
          logger.warn({ hosts: settings.connectString, session: session.sessionId }, 'lost the ZooKeeper connection; reconnecting');
          hooks.disconnected(session);
        },
        fired: (path, type) => hooks.fired(session, path, type),
        ended: (end) => this.onEnded(session, end),
        log: (level, message) => logger[level]({ hosts: settings.connectString }, `zookeeper client: ${message}`),
      },
    });
    // Before the server creates the session, so the first gap is never under-counted.
    this.lastProofSentAt.set(session, openedAt);
    return session;
  }

  private remember(id: string): void {
    this.ownSessions.push(id);
    if (this.ownSessions.length > 16) this.ownSessions.shift();
  }

  private onConnected(session: ZooKeeperSession, first: boolean): void {
    this.wakeWaiters();
    if (session !== this.session) return; // a replacement being prepared by replace()
    this.restartDelayMs = 0;
    if (first) {
      this.established(session);
    } else {
      this.options.logger.info({ hosts: this.options.settings.connectString, session: session.sessionId }, 'reconnected to ZooKeeper; session kept');
      this.options.hooks.reconnected(session);
    }
  }

  /** A session became the current one and is connected: check its timeout, then let the driver restore its state. */
  private established(session: ZooKeeperSession): void {
    const requested = this.requestedTimeoutMs();
    const negotiated = session.timeoutMs ?? requested;
    this.negotiatedMs = negotiated;
    const log = { hosts: this.options.settings.connectString, session: session.sessionId, requestedMs: requested, negotiatedMs: negotiated };
    if (negotiated < requested) {
      this.options.logger.warn(log, 'ZooKeeper granted a shorter session timeout than ttl (its maxSessionTimeout); the leader hold uses the granted one');
    } else {
      this.options.logger.info(log, 'ZooKeeper session established');
    }
    this.options.hooks.established(session);
  }

  private onEnded(session: ZooKeeperSession, end: SessionEnd): void {
    if (session !== this.session) {
      this.wakeWaiters(); // a replacement being prepared by replace() failed
      return;
    }
    this.session = null;
    this.lastEnd = end;
    this.validUntil = null;
    const connected = session.sessionId !== null;
    this.options.logger.warn({ hosts: this.options.settings.connectString, session: session.sessionId, end }, 'ZooKeeper session ended');
    this.wakeWaiters();
    this.options.hooks.lost(session, this.closed);
    if (this.closed) return;
    // A session that never connected (child cannot start, authentication refused) is retried
    // with backoff; after a real session, a new one is opened at once.
    this.restartDelayMs = connected ? 0 : Math.min(Math.max(this.restartDelayMs * 2, 500), 10_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closed || this.session) return;
      this.session = this.open();
      this.wakeWaiters();
    }, this.restartDelayMs);
    this.restartTimer.unref();
  }

  /** Waits until `ready()` or the deadline; true if ready. Woken by every session state change. */
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
}
