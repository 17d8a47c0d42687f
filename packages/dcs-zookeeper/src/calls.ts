/**
 * Requests on the current ZooKeeper session, each within a deadline, and the creates built on
 * them: missing parents made on the way, and the configured ACL (`zookeeper.set_acls`) set on
 * what pgha creates.
 */
import { DcsError, DcsErrorCode, type Logger, type MonotonicClock } from '@pgha/dcs';
import type { ZooKeeperSettings } from './config.js';
import { closedError, replyError, requestLabel, unavailable } from './errors.js';
import { LEADER_ROUTED, SERVER_ANSWERS, ZRC, type Reply, type Request } from './protocol.js';
import type { SessionManager } from './session-manager.js';

/** A reply, with the id of the session that gave it. */
export type Answer = Reply & { sessionId: string };

export interface ZooKeeperCallsOptions {
  sessions: SessionManager;
  settings: ZooKeeperSettings;
  /** The driver's prefix, for DCS_CLOSED messages. */
  prefix: string;
  clock: MonotonicClock;
  logger: Logger;
}

export class ZooKeeperCalls {
  /** Znodes we may have created whose ACL is not known to be set (see `createOne`). */
  private readonly aclPending = new Set<string>();
  private aclRepairInFlight = false;
  private readonly options: ZooKeeperCallsOptions;

  constructor(options: ZooKeeperCallsOptions) {
    this.options = options;
  }

  /**
   * Sends one request on the current session, within `deadline`. Resolves with any answer the
   * server gave (the caller interprets the code); rejects DCS_UNAVAILABLE when there was none.
   * Answers through the ensemble leader move the hold (`SessionManager.refreshHold`).
   */
  async exec(request: Request, deadline: number, onSent?: () => void): Promise<Answer> {
    const { sessions, clock, settings } = this.options;
    const session = await sessions.usable(deadline, request);
    onSent?.();
    const result = await session.call(request, deadline - clock.now());
    if (sessions.closed) throw closedError(this.options.prefix);
    const what = requestLabel(request);
    if (result.kind === 'timeout') {
      throw unavailable(`ZooKeeper (${settings.connectString}) did not answer ${what} before the deadline`);
    }
    if (result.kind === 'ended') throw unavailable(`the ZooKeeper session ended during ${what}`);
    if (SERVER_ANSWERS.has(result.reply.rc) && LEADER_ROUTED.has(request.op)) sessions.refreshHold(session, result.sentAt);
    return { ...result.reply, sessionId: session.sessionId ?? '' };
  }

  /** Deletes `path` and everything under it, within `deadline`. */
  async removeTree(path: string, deadline: number, attempts = 3): Promise<void> {
    const list = await this.exec({ op: 'children', path }, deadline);
    if (list.rc === ZRC.noNode) return;
    this.expectOk(list, 'list', path);
    await Promise.all((list.children ?? []).map((child) => this.removeTree(`${path}/${child}`, deadline, attempts)));
    const d = await this.exec({ op: 'delete', path, version: -1 }, deadline);
    if (d.rc === ZRC.ok || d.rc === ZRC.noNode) return;
    // A child appeared meanwhile (a member re-registering): go again.
    if (d.rc === ZRC.notEmpty && attempts > 0) return this.removeTree(path, deadline, attempts - 1);
    throw this.failure(d, 'delete', path);
  }

  /** Throws unless the answer is a success. */
  expectOk(r: Answer, op: string, path: string): void {
    if (r.rc !== ZRC.ok) throw this.failure(r, op, path);
  }

  /** The error for an answer that is not the one the caller needed. */
  failure(r: Reply, op: string, path: string): DcsError {
    return replyError(this.options.settings.connectString, r, op, path);
  }

  /**
   * create, making missing parents (persistent, empty) on the way, as kazoo's makepath does. With
   * `set_acls`, every znode created here, parents included, gets that ACL (`createOne`); existing
   * parents are left as they are, whatever their ACL.
   */
  async create(path: string, data: string, ephemeral: boolean, deadline: number): Promise<Answer> {
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
   * Sets the ACL of znodes whose create went unanswered or whose setACL did not reach the server,
   * within `deadline`; in the background (the heartbeat calls it). ACL version 0: only a znode
   * whose ACL nobody has set since its creation is changed.
   */
  repairAcls(deadline: number): void {
    if (this.aclPending.size === 0 || this.aclRepairInFlight) return;
    this.aclRepairInFlight = true;
    const paths = [...this.aclPending];
    void Promise.all(
      paths.map(async (path) => {
        const r = await this.exec({ op: 'set_acl', path, version: 0, acl: this.options.settings.acl }, deadline).catch(() => null);
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
    const { acl, connectString } = this.options.settings;
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
      throw unavailable(`ZooKeeper (${connectString}) created ${path} but its ACL could not be set yet (${r.aclRc ?? '?'} ${r.message ?? ''}); retried in the background`);
    }
    // Our ephemeral is only ours to write; a persistent znode written since by another agent is kept.
    const removed = await this.exec({ op: 'delete', path, version: ephemeral ? -1 : 0 }, deadline).then(
      (d) => d.rc === ZRC.ok || d.rc === ZRC.noNode,
      () => false,
    );
    throw new DcsError(
      DcsErrorCode.Rejected,
      `ZooKeeper (${connectString}) refused the ACL of ${path} (zookeeper.set_acls): ${r.aclRc} ${r.message ?? ''}; ${removed ? 'the znode was deleted' : 'the znode could not be deleted'}`,
      { hint: r.aclRc === ZRC.invalidAcl ? 'the server has no authentication provider for a scheme of zookeeper.set_acls, or an id is malformed' : 'another client changed the znode\'s ACL before pgha set it' },
    );
  }
}

/** `p`, or the rejection `late()` makes once `deadline` (monotonic ms, `clock`) has passed. */
export async function beforeDeadline<T>(p: Promise<T>, deadline: number, late: () => Error, clock: MonotonicClock): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), Math.max(0, deadline - clock.now()));
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}
