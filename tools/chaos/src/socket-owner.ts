/**
 * Which local process opened a loopback TCP connection, from Linux's /proc: the client's socket
 * is the row of /proc/net/tcp whose local port is the connection's remote port, its inode names
 * a file descriptor under /proc/<pid>/fd. Every member here runs on 127.0.0.1, so addresses
 * cannot tell members apart; processes can (each member's agent, PostgreSQL and the tools they
 * run work in that member's directory).
 *
 * A full search reads the working directory of every process and a link per file descriptor of
 * every member process; done one read after another it took 50 ms (median) on an idle machine
 * and grows with the load (docs/chaos.md, record entry 4). The reads run in parallel, and the
 * processes that owned a connection before are searched first (an agent opens a fresh
 * connection per peer probe); on an idle machine that measured no faster (47 ms median), so what
 * keeps the search off the probes' path is proxy.ts not waiting for it outside a peer cut.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';

/** The socket inode of the loopback client whose local port is `port` connected to `serverPort`. */
async function clientInode(port: number, serverPort: number): Promise<string | null> {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const remote = cols[2];
      if (!local || !remote) continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16) === serverPort) {
        return cols[9] ?? null;
      }
    }
  }
  return null;
}

/** The member whose directory holds `pid`'s working directory, or null. */
async function memberOfPid(pid: string, dirs: ReadonlyMap<string, string>): Promise<string | null> {
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
  if (!cwd) return null;
  return [...dirs].find(([, dir]) => cwd === dir || cwd.startsWith(`${dir}/`))?.[0] ?? null;
}

/** Does `pid` hold the socket `wanted`? The links are read all at once, not one after another. */
async function holds(pid: string, wanted: string): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return links.includes(wanted);
}

/** Processes remembered as owners of connections: every member's agent and more. */
const MAX_KNOWN_OWNERS = 64;

export type SocketOwner = (client: Socket, serverPort: number) => Promise<string | null>;

/**
 * Identifies the member that opened `client` (accepted on a proxy listening on `serverPort`):
 * the member whose directory contains the working directory of the process holding the client's
 * socket. Null when unknown (not a member's process, or the connection is gone).
 *
 * The pids remembered only order the search: a pid's working directory is read again at every
 * lookup, so a pid reused by another process is judged by what it is now.
 */
export function createSocketOwner(dirs: ReadonlyMap<string, string>): SocketOwner {
  // In the order last found (a Set keeps insertion order): over the cap, the oldest goes.
  const known = new Set<string>();
  const remember = (pid: string) => {
    known.delete(pid);
    known.add(pid);
    if (known.size > MAX_KNOWN_OWNERS) known.delete(known.values().next().value as string);
  };
  // All of `pids` at once: one after another, each read waits its turn in libuv's thread pool
  // and on the event loop, which is what a loaded machine makes slow.
  const ownerAmong = async (pids: readonly string[], wanted: string): Promise<string | null> => {
    const found = await Promise.all(
      pids.map(async (pid) => {
        const member = await memberOfPid(pid, dirs);
        return member && (await holds(pid, wanted)) ? { pid, member } : null;
      }),
    );
    const owner = found.find((f) => f !== null);
    if (!owner) return null;
    remember(owner.pid);
    return owner.member;
  };
  return async (client, serverPort) => {
    const port = client.remotePort;
    if (port === undefined) return null;
    const inode = await clientInode(port, serverPort);
    if (!inode || inode === '0') return null;
    const wanted = `socket:[${inode}]`;
    const recent = [...known];
    const fromRecent = await ownerAmong(recent, wanted);
    // A connection closed meanwhile (a probe that gave up) needs no answer: no full search.
    if (fromRecent !== null || client.destroyed) return fromRecent;
    const tried = new Set(recent);
    const rest = (await readdir('/proc')).filter((d) => /^\d+$/.test(d) && !tried.has(d));
    return ownerAmong(rest, wanted);
  };
}

/** One lookup without remembered owners (createSocketOwner, for a proxy's every connection). */
export function memberOfConnection(client: Socket, serverPort: number, dirs: ReadonlyMap<string, string>): Promise<string | null> {
  return createSocketOwner(dirs)(client, serverPort);
}
