/**
 * The session process: a child forked by the driver that owns one native ZooKeeper handle (one
 * session) and relays calls and events over IPC. It holds no logic: deadlines, the hold, watch
 * re-arming and ephemeral re-creation all live in the parent. It exits when the handle closes or
 * the parent goes away, so the parent treats "child gone" as "session gone".
 */
import { createRequire } from 'node:module';
import type { AclEntry, ChildMessage, InitMessage, NodeStat, ParentMessage, Reply, Request } from './protocol.js';
import { WATCH_EVENT, ZRC } from './protocol.js';

interface RawStat {
  version: number;
  aversion: number;
  ephemeralOwner: string;
  numChildren: number;
}
/** The npm client's ACL entries: `perms` out of getACL; its setACL wrapper renames it to `perm`. */
interface RawAcl {
  perms: number;
  scheme: string;
  auth: string;
}
type Done = (rc: number, error: string) => void;

/** The parts of the npm client used here (its bundled typings are mostly `any`). */
interface NativeHandle {
  init(config: object): unknown;
  close(): unknown;
  on(event: 'connect' | 'connecting', listener: () => void): unknown;
  on(event: 'close', listener: (self: unknown, code: number) => void): unknown;
  readonly client_id: string;
  readonly timeout: number;
  a_create(path: string, data: Buffer, flags: number, cb: (rc: number, error: string, path: string) => void): number;
  a_get(path: string, watch: boolean, cb: (rc: number, error: string, stat: RawStat | null, data: Buffer | null) => void): number;
  aw_get(
    path: string,
    watcher: (type: number, state: number, path: string) => void,
    cb: (rc: number, error: string, stat: RawStat | null, data: Buffer | null) => void,
  ): number;
  a_set(path: string, data: Buffer, version: number, cb: (rc: number, error: string, stat: RawStat | null) => void): number;
  a_delete_(path: string, version: number, cb: Done): number;
  a_get_children(path: string, watch: boolean, cb: (rc: number, error: string, children: string[] | null) => void): number;
  aw_get_children(
    path: string,
    watcher: (type: number, state: number, path: string) => void,
    cb: (rc: number, error: string, children: string[] | null) => void,
  ): number;
  aw_exists(
    path: string,
    watcher: (type: number, state: number, path: string) => void,
    cb: (rc: number, error: string, stat: RawStat | null) => void,
  ): number;
  add_auth(scheme: string, credential: string, cb: Done): number;
  a_sync(path: string, cb: Done): number;
  a_exists(path: string, watch: boolean, cb: (rc: number, error: string, stat: RawStat | null) => void): number;
  a_set_acl(path: string, version: number, acl: RawAcl[], cb: Done): number;
  a_get_acl(path: string, cb: (rc: number, error: string, acl: RawAcl[] | null, stat: RawStat | null) => void): number;
  set_servers(servers: string): number;
}

const EPHEMERAL = 1;
const PERSISTENT = 0;
const LOG_LEVEL_ERROR = 1;

function send(message: ChildMessage): void {
  // The callback takes a failed send (the parent went away meanwhile): without it, it would be an
  // 'error' event with no listener. 'disconnect' then ends this process.
  if (process.connected) process.send?.(message, undefined, {}, () => {});
}

function toStat(raw: RawStat | null): NodeStat | undefined {
  if (!raw) return undefined;
  // Persistent nodes report owner 0.
  const owner = raw.ephemeralOwner && raw.ephemeralOwner !== '0' ? raw.ephemeralOwner : undefined;
  const stat: NodeStat = { version: raw.version, numChildren: raw.numChildren, aversion: raw.aversion };
  if (owner !== undefined) stat.owner = owner;
  return stat;
}

function toRawAcl(acl: AclEntry[]): RawAcl[] {
  return acl.map((a) => ({ perms: a.perms, scheme: a.scheme, auth: a.id }));
}

/**
 * The npm client creates every znode with `world:anyone` (its `a_create` hard-codes
 * ZOO_OPEN_ACL_UNSAFE, and it has no multi), so an ACL'd create is a create, then a setACL sent
 * the moment the create succeeds (ACL version 0: only if nobody changed the ACL in between), then
 * a Stat read: the parent checks that nothing touched the znode in that one round trip.
 */
function createWithAcl(handle: NativeHandle, request: Extract<Request, { op: 'create' }>, acl: AclEntry[], reply: (r: Reply) => void): number {
  return handle.a_create(request.path, Buffer.from(request.data, 'utf8'), request.ephemeral ? EPHEMERAL : PERSISTENT, (rc, message) => {
    if (rc !== ZRC.ok) return reply({ rc, message });
    const aclFailed = (aclRc: number, aclMessage: string) => reply({ rc, aclRc, message: aclMessage });
    const sent = handle.a_set_acl(request.path, 0, toRawAcl(acl), (aclRc, aclMessage) => {
      if (aclRc !== ZRC.ok) return aclFailed(aclRc, aclMessage);
      const read = handle.a_exists(request.path, false, (statRc, _m, stat) => {
        const s = statRc === ZRC.ok ? toStat(stat) : undefined;
        reply(s ? { rc, message, aclRc, stat: s } : { rc, message, aclRc });
      });
      if (read < 0) reply({ rc, message, aclRc });
    });
    if (sent < 0) aclFailed(sent, 'setACL not sent (client state)');
  });
}

function start(init: InitMessage): NativeHandle {
  // The parent resolves the addon's path (from its own package), so this file runs from anywhere.
  const ZooKeeper = createRequire(import.meta.url)(init.modulePath) as new (config: object) => unknown;
  const handle = new ZooKeeper({
    connect: init.connect,
    timeout: init.timeoutMs,
    debug_level: LOG_LEVEL_ERROR,
    host_order_deterministic: false,
    data_as_buffer: true,
    // The addon closes the session itself (reporting it as expired) after this many empty
    // zookeeper_process() rounds in a row; large reads reach dozens (node-zookeeper #221).
    response_counter_limit: 1000,
  }) as unknown as NativeHandle;
  let authenticated = init.auth.length === 0;

  handle.on('connect', () => {
    const announce = () => send({ t: 'connected', sessionId: handle.client_id, timeoutMs: handle.timeout });
    if (authenticated) return announce();
    // The C client replays added credentials on every reconnect, so this runs once per session.
    authenticated = true;
    let left = init.auth.length;
    for (const [scheme, credential] of init.auth) {
      const rc = handle.add_auth(scheme, credential, (code, error) => {
        if (code !== ZRC.ok) send({ t: 'log', level: 'error', message: `add_auth(${scheme}) failed: ${code} ${error}` });
        if (--left === 0) announce();
      });
      if (rc < 0) {
        send({ t: 'log', level: 'error', message: `add_auth(${scheme}) could not be sent: ${rc}` });
        if (--left === 0) announce();
      }
    }
  });
  handle.on('connecting', () => send({ t: 'connecting' }));
  handle.on('close', (_self, code) => {
    send({ t: 'closed', code });
    // Let the IPC channel flush the message, then go: the handle is dead.
    setTimeout(() => process.exit(0), 50);
  });
  handle.init({});
  return handle;
}

function call(handle: NativeHandle, request: Request, reply: (r: Reply) => void): void {
  const fail = (rc: number) => rc < 0 && reply({ rc, message: 'request not sent (client state)' });
  switch (request.op) {
    case 'ping':
      return reply({ rc: ZRC.ok });
    case 'set_servers':
      return reply({ rc: handle.set_servers(request.hosts) });
    case 'create':
      if (request.acl && request.acl.length > 0) return void fail(createWithAcl(handle, request, request.acl, reply));
      return void fail(
        handle.a_create(request.path, Buffer.from(request.data, 'utf8'), request.ephemeral ? EPHEMERAL : PERSISTENT, (rc, message) =>
          reply({ rc, message }),
        ),
      );
    case 'get':
      return void fail(
        handle.a_get(request.path, false, (rc, message, stat, data) => {
          const s = toStat(stat);
          reply(rc === ZRC.ok && s ? { rc, message, stat: s, data: data ? data.toString('utf8') : '' } : { rc, message });
        }),
      );
    case 'get_watch':
      return void fail(
        handle.aw_get(request.path, forwardFire, (rc, message, stat, data) => {
          const s = toStat(stat);
          reply(rc === ZRC.ok && s ? { rc, message, stat: s, data: data ? data.toString('utf8') : '' } : { rc, message });
        }),
      );
    case 'set':
      return void fail(
        handle.a_set(request.path, Buffer.from(request.data, 'utf8'), request.version, (rc, message, stat) => {
          const s = toStat(stat);
          reply(s ? { rc, message, stat: s } : { rc, message });
        }),
      );
    case 'delete':
      return void fail(handle.a_delete_(request.path, request.version, (rc, message) => reply({ rc, message })));
    case 'sync':
      return void fail(handle.a_sync(request.path, (rc, message) => reply({ rc, message })));
    case 'set_acl':
      return void fail(handle.a_set_acl(request.path, request.version, toRawAcl(request.acl), (rc, message) => reply({ rc, message })));
    case 'get_acl':
      return void fail(
        handle.a_get_acl(request.path, (rc, message, acl, stat) => {
          const s = toStat(stat);
          const entries = (acl ?? []).map((a) => ({ scheme: a.scheme, id: a.auth, perms: a.perms }));
          reply(s ? { rc, message, acl: entries, stat: s } : { rc, message, acl: entries });
        }),
      );
    case 'children':
      return void fail(
        handle.a_get_children(request.path, false, (rc, message, children) => reply({ rc, message, children: children ?? [] })),
      );
    case 'watch_children':
      return void fail(
        handle.aw_get_children(request.path, forwardFire, (rc, message, children) => reply({ rc, message, children: children ?? [] })),
      );
    case 'watch':
      return void fail(
        handle.aw_exists(
          request.path,
          forwardFire,
          (rc, message, stat) => {
            const s = toStat(stat);
            reply(s ? { rc, message, stat: s } : { rc, message });
          },
        ),
      );
  }
}

/**
 * A registered watch's callback: tells the agent it fired. Session events reach every watcher but
 * do not consume it (the C client keeps the registration), so they are not fires.
 */
function forwardFire(type: number, _state: number, path: string): void {
  if (type === WATCH_EVENT.session) return;
  send({ t: 'fired', path, type });
}

let handle: NativeHandle | null = null;
process.on('disconnect', () => process.exit(0));

/**
 * A frozen agent (SIGSTOP, a hung event loop) keeps the IPC channel open, so 'disconnect' never
 * comes, and this process would keep the session — and the agent's leader key — alive forever.
 * The agent talks to us at least every second (its background sync), and its own hold ends one
 * session timeout after its last successful round trip; once it has been silent that long, the
 * session is ended here, so the ephemeral keys go no earlier than the agent's hold does.
 */
let lastHeardFromParent = Date.now();
const silenceCheck = setInterval(() => {
  const h = handle;
  if (!h || !(h.timeout > 0)) return;
  if (Date.now() - lastHeardFromParent > h.timeout) {
    clearInterval(silenceCheck);
    h.close();
  }
}, 250);
silenceCheck.unref();

process.on('message', (message: ParentMessage) => {
  lastHeardFromParent = Date.now();
  if (message.t === 'init') {
    if (!handle) handle = start(message);
  } else if (message.t === 'call') {
    const h = handle;
    const reply = (r: Reply) => send({ t: 'reply', id: message.id, reply: r });
    if (!h) return reply({ rc: ZRC.invalidState, message: 'not initialised' });
    try {
      call(h, message.request, reply);
    } catch (e) {
      reply({ rc: ZRC.badArguments, message: e instanceof Error ? e.message : String(e) });
    }
  } else if (message.t === 'close') {
    // zookeeper_close() blocks this process (up to ~4.5 s) while it tells the server; that is
    // exactly why it runs here and not in the agent. It then emits `close` with code 0.
    if (handle) handle.close();
    else process.exit(0);
  }
});
