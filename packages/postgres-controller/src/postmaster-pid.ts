/**
 * The postmaster.pid file and the process it names: how the controller adopts a postmaster that
 * was already running when the agent started, and watches it without being its parent.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PostmasterPidFile {
  pid: number;
  dataDir: string;
  /** Start time, seconds since the epoch. */
  startTime: number;
  port: number | null;
  socketDir: string | null;
  listenAddress: string | null;
  /** PostgreSQL 10+: `starting`, `stopping`, `ready` or `standby`; null when not yet written. */
  status: string | null;
}

/** Parses postmaster.pid's lines; null when the first line is not a pid. */
export function parsePostmasterPid(content: string): PostmasterPidFile | null {
  const lines = content.split('\n');
  const pid = Number(lines[0]?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const num = (i: number) => {
    const n = Number(lines[i]?.trim());
    return lines[i] !== undefined && lines[i]!.trim() !== '' && Number.isFinite(n) ? n : null;
  };
  const text = (i: number) => {
    const v = lines[i]?.trim();
    return v === undefined || v === '' ? null : v;
  };
  return {
    pid,
    dataDir: lines[1]?.trim() ?? '',
    startTime: num(2) ?? 0,
    port: num(3),
    socketDir: text(4),
    listenAddress: text(5),
    status: text(7),
  };
}

/** Reads `<dataDir>/postmaster.pid`; null when absent or unparsable. */
export async function readPostmasterPid(dataDir: string): Promise<PostmasterPidFile | null> {
  try {
    return parsePostmasterPid(await readFile(join(dataDir, 'postmaster.pid'), 'utf8'));
  } catch {
    return null;
  }
}

/** True while a process with this pid exists (a zombie counts as gone). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return statField(stat, 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Field `n` (1-based, as in proc(5)) of /proc/<pid>/stat, skipping the parenthesised comm. */
function statField(stat: string, n: number): string | undefined {
  const close = stat.lastIndexOf(')');
  const rest = stat.slice(close + 2).split(' ');
  return rest[n - 3];
}

/** The process group of `pid`, from /proc; null when unknown. */
export async function processGroup(pid: number): Promise<number | null> {
  try {
    const v = Number(statField(await readFile(`/proc/${pid}/stat`, 'utf8'), 5));
    return Number.isInteger(v) ? v : null;
  } catch {
    return null;
  }
}

/** The pids whose parent is `pid` (the postmaster's backends), from /proc. */
export async function childProcesses(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (Number(statField(stat, 4)) === pid) children.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return children;
}

/**
 * Whether `pid` is a PostgreSQL server process: its executable name is `postgres` or
 * `postmaster`. Guards against a stale postmaster.pid naming a recycled pid (Linux /proc).
 */
export async function isPostgresProcess(pid: number): Promise<boolean> {
  try {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    return comm === 'postgres' || comm === 'postmaster';
  } catch {
    return false;
  }
}
