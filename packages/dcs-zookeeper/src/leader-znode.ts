/**
 * The leader lock: the ephemeral `leader` znode, as acquire, renew and release see it. It is
 * ours only when it names us and belongs to the current session. One that names us but belongs
 * to an earlier session of ours (a session change) is replaced by one of the current session on
 * renewal; one that names us but belongs to a session this driver never had is another live
 * agent's with our name (pgha issue 15) and is never renewed, released or replaced. The znode is
 * never re-created on a new session by itself: only a new race (`acquire`) or a renewal does.
 */
import { DcsErrorCode, isDcsError, KEY, type Logger } from '@pgha/dcs';
import type { Answer, ZooKeeperCalls } from './calls.js';
import type { ClusterCache } from './cluster-cache.js';
import { ZRC } from './protocol.js';
import type { SessionManager } from './session-manager.js';
import type { SyncPoint } from './sync-point.js';

export interface LeaderZnodeOptions {
  /** Our member name: the leader znode's value when we hold the lock. */
  name: string;
  /** The full path of the leader znode. */
  path: string;
  calls: ZooKeeperCalls;
  sessions: SessionManager;
  cache: ClusterCache;
  syncs: SyncPoint;
  logger: Logger;
}

export class LeaderZnode {
  /** The last acquire or renewal said we hold the lock (and no release or session loss since). */
  leading = false;
  private readonly o: LeaderZnodeOptions;

  constructor(options: LeaderZnodeOptions) {
    this.o = options;
  }

  async acquire(deadline: number): Promise<boolean> {
    let r: Answer;
    try {
      r = await this.o.calls.create(this.o.path, this.o.name, true, deadline);
    } catch (e) {
      // The create may have been applied although its answer was lost. A read on the same
      // session tells: ZooKeeper serves a session's requests in order. A refusal is final (an
      // ACL'd create that was tampered with must not be read back as ours).
      if (!isDcsError(e, DcsErrorCode.Unavailable)) throw e;
      const owned = await this.readBack(deadline).catch(() => null);
      if (owned === null) throw e;
      return owned;
    }
    if (r.rc === ZRC.ok) return (this.leading = true);
    if (r.rc === ZRC.nodeExists) return false;
    throw this.o.calls.failure(r, 'create', this.o.path);
  }

  async renew(deadline: number): Promise<boolean> {
    this.leading = await this.renewOnce(deadline);
    return this.leading;
  }

  async release(deadline: number): Promise<boolean> {
    this.leading = false;
    const { calls, path } = this.o;
    const r = await calls.exec({ op: 'get', path }, deadline);
    if (r.rc === ZRC.noNode) return false;
    calls.expectOk(r, 'read', path);
    if (r.data !== this.o.name) return false;
    if (r.stat?.owner !== undefined && !this.o.sessions.owns(r.stat.owner)) return false;
    const d = await calls.exec({ op: 'delete', path, version: r.stat?.version ?? -1 }, deadline);
    if (d.rc === ZRC.ok) return true;
    if (d.rc === ZRC.noNode || d.rc === ZRC.badVersion) return false;
    throw calls.failure(d, 'delete', path);
  }

  /**
   * After a session replacement (a new ttl): if the znode is ours in the old session, move it to
   * the new one (a conditional delete, then a create: a candidate could only win the instant
   * between). Throws when that could not be done; the caller then leaves the old session to
   * expire rather than closing it, and the next renewal adopts the znode.
   */
  async moveFrom(oldSessionId: string | null, deadline: number): Promise<void> {
    const { calls, path } = this.o;
    const r = await calls.exec({ op: 'get', path }, deadline);
    if (r.rc === ZRC.ok && r.data === this.o.name && r.stat?.owner === oldSessionId) {
      const d = await calls.exec({ op: 'delete', path, version: r.stat.version }, deadline);
      if (d.rc === ZRC.ok) await calls.create(path, this.o.name, true, deadline);
    }
  }

  private async renewOnce(deadline: number): Promise<boolean> {
    const { calls, path, logger } = this.o;
    const r = await this.readAfterSync(deadline);
    if (r.rc === ZRC.noNode) return false;
    calls.expectOk(r, 'read', path);
    if (r.data !== this.o.name) return false;
    if (r.stat?.owner === r.sessionId) return true;
    if (r.stat?.owner !== undefined && !this.o.sessions.owns(r.stat.owner)) {
      logger.warn({ path, owner: r.stat.owner, session: r.sessionId }, 'leader znode names us but belongs to another agent with our name; not taking it');
      return false;
    }
    // It names us but belongs to an earlier session of ours (a session change), or is a persistent
    // znode someone wrote. Replace it by one of our current session, conditional on its version.
    logger.warn({ path, owner: r.stat?.owner ?? null, session: r.sessionId }, 'leader znode names us but belongs to another session; re-creating it in ours');
    const d = await calls.exec({ op: 'delete', path, version: r.stat?.version ?? -1 }, deadline);
    if (d.rc === ZRC.badVersion) return false;
    if (d.rc !== ZRC.ok && d.rc !== ZRC.noNode) throw calls.failure(d, 'delete', path);
    const c = await calls.create(path, this.o.name, true, deadline);
    if (c.rc === ZRC.ok) return true;
    if (c.rc === ZRC.nodeExists) return false;
    throw calls.failure(c, 'create', path);
  }

  /**
   * The leader znode as of a fresh sync: from the copy when it is current, else a get queued
   * behind the sync on the same session (which then reads current data).
   */
  private async readAfterSync(deadline: number): Promise<Answer> {
    const { calls, path, cache, syncs } = this.o;
    const session = this.o.sessions.current();
    if (session && cache.isCurrent(session)) {
      await syncs.sync(deadline);
      const c = await cache.serve(session, deadline, false);
      if (c) {
        const node = c.nodes.get(KEY.leader);
        const sessionId = session.sessionId ?? '';
        if (!node) return { rc: ZRC.noNode, sessionId };
        const stat = { version: Number(node.version), numChildren: 0, aversion: 0, ...(node.owner !== undefined ? { owner: node.owner } : {}) };
        return { rc: ZRC.ok, data: node.value, stat, sessionId };
      }
    }
    // The sync goes through the ensemble leader, which proves the session alive there (it is
    // what moves the hold); the get, queued behind it on the same session, reads current data.
    syncs.sent++;
    const [sync, r] = await Promise.all([calls.exec({ op: 'sync', path }, deadline), calls.exec({ op: 'get', path }, deadline)]);
    if (sync.rc !== ZRC.ok && sync.rc !== ZRC.noNode) throw calls.failure(sync, 'sync', path);
    if (r.rc !== ZRC.noNode) calls.expectOk(r, 'read', path);
    return r;
  }

  /** After an ambiguous acquire: true if the leader znode is ours, false if someone else's, null if unknown. */
  private async readBack(deadline: number): Promise<boolean | null> {
    const r = await this.o.calls.exec({ op: 'get', path: this.o.path }, deadline);
    if (r.rc !== ZRC.ok) return null;
    return r.data === this.o.name && r.stat?.owner === r.sessionId;
  }
}
