/**
 * Our own member znode (`members/<name>`): an ephemeral of the current session, written by
 * touchMember and re-created on every new session with the last value given. A znode of our name
 * that belongs to a session this driver never had is another live agent's with our name (pgha
 * issue 15): it is never replaced.
 */
import { DcsError, DcsErrorCode, type Logger } from '@pgha/dcs';
import type { ZooKeeperCalls } from './calls.js';
import { unavailable } from './errors.js';
import { ZRC } from './protocol.js';
import type { SessionManager } from './session-manager.js';

export interface OwnMemberOptions {
  /** Our member name. */
  name: string;
  /** The full path of our member znode. */
  path: string;
  calls: ZooKeeperCalls;
  sessions: SessionManager;
  logger: Logger;
}

export class OwnMemberZnode {
  /** The last value given to touchMember, re-created on every new session. */
  private value: string | null = null;
  /** The session in which we created (or adopted) our member znode. */
  private session: string | null = null;
  private readonly options: OwnMemberOptions;

  constructor(options: OwnMemberOptions) {
    this.options = options;
  }

  /** Whether touchMember was called (since the last deleteCluster). */
  get wanted(): boolean {
    return this.value !== null;
  }

  async touch(value: string, deadline: number): Promise<void> {
    this.value = value;
    await this.write(value, deadline);
  }

  /**
   * A new session is the current one: the znode (if we have written one) is re-created in it, in
   * the background (a failure is logged; the next touchMember tries again).
   */
  restore(sessionId: string | null, deadline: () => number): void {
    this.session = null;
    if (this.value === null) return;
    this.write(this.value, deadline()).catch((e: unknown) =>
      this.options.logger.warn({ err: e, session: sessionId }, 'could not re-create our member znode in the new session'),
    );
  }

  /** The znode is not known to be in the current session any more (session lost, or deleted). */
  forgetSession(): void {
    this.session = null;
  }

  /** The cluster was deleted: nothing is re-created until the next touchMember. */
  forget(): void {
    this.value = null;
    this.session = null;
  }

  /**
   * Writes our member znode as an ephemeral of the current session: overwrite it when we know it
   * is ours, else create it; one left by an earlier session of ours (or a persistent one) is
   * deleted and re-created, so it vanishes with our session. One of another driver's session is
   * a live agent with our name: left alone, DCS_CONFLICT.
   */
  private async write(value: string, deadline: number): Promise<void> {
    const { calls, sessions, path, name, logger } = this.options;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = sessions.current()?.sessionId ?? null;
      if (current !== null && this.session === current) {
        const s = await calls.exec({ op: 'set', path, data: value, version: -1 }, deadline);
        // Ours unless it was deleted and re-created meanwhile (by an agent of our name, say).
        if (s.rc === ZRC.ok && s.sessionId === current && (s.stat?.owner === undefined || s.stat.owner === current)) return;
        if (s.rc !== ZRC.noNode && s.rc !== ZRC.ok) throw calls.failure(s, 'set', path);
        this.session = null;
        continue;
      }
      const c = await calls.create(path, value, true, deadline);
      if (c.rc === ZRC.ok) {
        this.session = c.sessionId;
        return;
      }
      if (c.rc !== ZRC.nodeExists) throw calls.failure(c, 'create', path);
      const g = await calls.exec({ op: 'get', path }, deadline);
      if (g.rc === ZRC.noNode) continue;
      calls.expectOk(g, 'read', path);
      if (g.stat?.owner === g.sessionId) {
        this.session = g.sessionId;
        continue;
      }
      if (g.stat?.owner !== undefined && !sessions.owns(g.stat.owner)) {
        throw new DcsError(DcsErrorCode.Conflict, `ZooKeeper ${path} belongs to session ${g.stat.owner} of another agent named ${name}; not replaced`, {
          hint: 'two agents run with the same name: give each node its own `name`',
        });
      }
      logger.info({ path, owner: g.stat?.owner ?? null, session: g.sessionId }, 'our member znode belongs to an earlier session of ours; re-creating it');
      const d = await calls.exec({ op: 'delete', path, version: g.stat?.version ?? -1 }, deadline);
      if (d.rc !== ZRC.ok && d.rc !== ZRC.noNode && d.rc !== ZRC.badVersion) throw calls.failure(d, 'delete', path);
    }
    throw unavailable(`our member znode ${path} kept changing under us; not written`);
  }
}
