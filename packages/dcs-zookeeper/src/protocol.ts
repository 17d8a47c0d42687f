/**
 * The messages between the driver (parent) and its session process (child, `session-process.ts`),
 * and the ZooKeeper codes both sides use. The child holds exactly one ZooKeeper handle, i.e. one
 * session; it does no logic of its own beyond forwarding calls, replies and events. Messages are
 * plain JSON (node IPC), values travel as UTF-8 strings.
 */

/** ZooKeeper C client return codes the driver distinguishes (`zookeeper.h`, `ZOO_ERRORS`). */
export const ZRC = {
  ok: 0,
  systemError: -1,
  connectionLoss: -4,
  operationTimeout: -7,
  badArguments: -8,
  invalidState: -9,
  noNode: -101,
  noAuth: -102,
  badVersion: -103,
  noChildrenForEphemerals: -108,
  nodeExists: -110,
  notEmpty: -111,
  sessionExpired: -112,
  invalidAcl: -114,
  authFailed: -115,
  closing: -116,
} as const;

/**
 * Codes that only a server sends: a reply carrying one of them proves the session was alive on
 * the server when the request arrived, so it may move the hold forward like a success.
 */
export const SERVER_ANSWERS: ReadonlySet<number> = new Set([
  ZRC.ok,
  ZRC.noNode,
  ZRC.noAuth,
  ZRC.badVersion,
  ZRC.noChildrenForEphemerals,
  ZRC.nodeExists,
  ZRC.notEmpty,
  ZRC.invalidAcl,
]);

/**
 * Requests every server forwards to the ensemble leader (writes, and sync). Only their answers
 * count for the hold: a follower cut off from the leader still answers reads from its own copy
 * until it notices (syncLimit × tickTime), while the leader, which expires sessions, no longer
 * hears of ours.
 */
export const LEADER_ROUTED: ReadonlySet<Request['op']> = new Set(['create', 'set', 'delete', 'sync']);

/** `close` event codes of the npm client (handle states). */
export const CLOSE_CODE = {
  /** We called `close()`. */
  requested: 0,
  /** The server reported the session expired (or the addon gave up on it). */
  expired: -112,
  /** Authentication failed. */
  authFailed: -113,
} as const;

/** Watch event types (`ZOO_*_EVENT`). `session` (-1) is a connection state change, not a fire. */
export const WATCH_EVENT = {
  created: 1,
  deleted: 2,
  changed: 3,
  child: 4,
  session: -1,
  notWatching: -2,
} as const;

/** What the driver needs of a znode's Stat. */
export interface NodeStat {
  version: number;
  /** Session id (hex) owning an ephemeral node; absent for persistent nodes. */
  owner?: string;
  numChildren: number;
  /** Version of the znode's ACL (0 until a setACL). */
  aversion: number;
}

/** ZooKeeper permission bits (`ZOO_PERM_*`). */
export const PERM = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

/** One ACL entry in ZooKeeper's terms: `scheme:id` and its permission bits. */
export interface AclEntry {
  scheme: string;
  id: string;
  perms: number;
}

export type Request =
  /**
   * With `acl`, the child sets it (`setACL`, ACL version 0) as soon as the create succeeds, then
   * reads the Stat: the npm client always creates with `world:anyone` (see `session-process.ts`).
   */
  | { op: 'create'; path: string; data: string; ephemeral: boolean; acl?: AclEntry[] }
  | { op: 'get'; path: string }
  /** get, registering a one-shot data watch (fires on change and delete) when the node exists. */
  | { op: 'get_watch'; path: string }
  | { op: 'set'; path: string; data: string; version: number }
  | { op: 'delete'; path: string; version: number }
  | { op: 'children'; path: string }
  /** Registers a one-shot exists-watch (fires on create, change and delete). */
  | { op: 'watch'; path: string }
  /** Lists the children and registers a one-shot child watch (fires when one is added or removed). */
  | { op: 'watch_children'; path: string }
  /** Round trip through the ensemble leader: later reads on this session see everything committed before. */
  | { op: 'sync'; path: string }
  /** setACL with an ACL version (-1: any). */
  | { op: 'set_acl'; path: string; version: number; acl: AclEntry[] }
  /**
   * getACL. Only for a znode known to exist and be readable: when the server refuses it (no
   * node, no READ or ADMIN permission, connection loss) the addon frees a NULL ACL vector and the
   * process dies of SIGSEGV (zookeeper 7.3.0 `acl_completion`). The driver never sends it; tests
   * read ACLs back with it, through a session process whose crash costs nothing.
   */
  | { op: 'get_acl'; path: string }
  /**
   * `zoo_set_servers`: the handle's new host list (no chroot), answered by the child at once. The
   * session goes on; the client moves to a host of the new list when its current one is not in
   * it (or to rebalance), as on any reconnect.
   */
  | { op: 'set_servers'; hosts: string }
  /** Answered by the child itself, without ZooKeeper: proves the child's event loop runs. */
  | { op: 'ping' };

export interface Reply {
  rc: number;
  /** The client's text for `rc`. */
  message?: string;
  stat?: NodeStat;
  data?: string;
  children?: string[];
  /** get_acl: the ACL. */
  acl?: AclEntry[];
  /** create with `acl`: the setACL's code (absent when the create itself failed). */
  aclRc?: number;
}

export interface InitMessage {
  t: 'init';
  /** Absolute path of the `zookeeper` package, resolved by the parent. */
  modulePath: string;
  connect: string;
  timeoutMs: number;
  /** `add_auth` calls made once after the first connect, as [scheme, credential]. */
  auth: Array<[string, string]>;
}

export type ParentMessage = InitMessage | { t: 'call'; id: number; request: Request } | { t: 'close' };

export type ChildMessage =
  | { t: 'reply'; id: number; reply: Reply }
  /** Connected (first time or again); `sessionId` is the hex session id, `timeoutMs` the negotiated timeout. */
  | { t: 'connected'; sessionId: string; timeoutMs: number }
  /** The connection was lost; the client is trying the hosts again, the session may still live. */
  | { t: 'connecting' }
  /** The handle is dead (`code` from CLOSE_CODE); the child exits right after. */
  | { t: 'closed'; code: number }
  | { t: 'fired'; path: string; type: number }
  | { t: 'log'; level: 'warn' | 'error'; message: string };
