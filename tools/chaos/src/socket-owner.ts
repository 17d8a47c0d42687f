/**
 * Which local process opened a loopback TCP connection, from Linux's /proc: the client's socket
 * is the row of /proc/net/tcp whose local port is the connection's remote port, its inode names
 * a file descriptor under /proc/<pid>/fd. Every member here runs on 127.0.0.1, so addresses
 * cannot tell members apart; processes can (each member's agent, PostgreSQL and the tools they
 * run work in that member's directory).
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

/**
 * Identifies the member that opened `client` (accepted on a proxy listening on `serverPort`): the
 * member whose directory contains the working directory of the process holding the client's
 * socket. Null when unknown (not a member's process, or it is gone).
 */
export async function memberOfConnection(client: Socket, serverPort: number, dirs: ReadonlyMap<string, string>): Promise<string | null> {
  const port = client.remotePort;
  if (port === undefined) return null;
  const inode = await clientInode(port, serverPort);
  if (!inode || inode === '0') return null;
  const wanted = `socket:[${inode}]`;
  // Only the members' processes are searched: their working directory says whose they are.
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
    if (!cwd) continue;
    const member = [...dirs].find(([, dir]) => cwd === dir || cwd.startsWith(`${dir}/`))?.[0];
    if (!member) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === wanted) return member;
    }
  }
  return null;
}
