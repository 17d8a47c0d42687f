/**
 * An agent's resident memory as /proc reports it: the agent process plus the helper processes
 * it runs for itself (pgha's ZooKeeper session child), without PostgreSQL, which both agents
 * start and which is measured apart. Without the helpers, an agent that moved work into a child
 * process would look smaller than it is.
 *
 * A helper's pages of a file the agent also maps (the node binary, libc) are the same page-cache
 * pages, resident once: summing both VmRSS would count them twice. So a helper adds its anonymous
 * memory in full, and of each shared file only what it has resident beyond the agent's own count
 * for that file (a lower bound of the union, exact when the helper touched a subset of the agent's
 * pages, which is the case for a child running the same binary).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** VmRSS of one process in MiB, or null when it is gone. */
export function processRssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** [pid, parent pid, command name] of every process. */
function processTable(): { pid: number; ppid: number; comm: string }[] {
  const rows: { pid: number; ppid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      rows.push({ pid: Number(entry), ppid, comm });
    } catch {
      // exited while we looked
    }
  }
  return rows;
}

/** The agent's own helper processes: its descendants, PostgreSQL's processes left out. */
export function agentHelpers(pid: number): number[] {
  const table = processTable();
  const helpers: number[] = [];
  const visit = (parent: number) => {
    for (const row of table) {
      if (row.ppid !== parent || row.comm === 'postgres' || row.comm.startsWith('pg_')) continue;
      helpers.push(row.pid);
      visit(row.pid);
    }
  };
  visit(pid);
  return helpers;
}

/** Resident kB per mapping name of one process (`/usr/bin/node`, `[heap]`, `[anon]` for unnamed ones), from smaps. */
export function residentByMapping(pid: number): Map<string, number> {
  const sums = new Map<string, number>();
  let current = '';
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return sums;
  }
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) current = head[1] || '[anon]';
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) sums.set(current, (sums.get(current) ?? 0) + Number(rss[1]));
  }
  return sums;
}

/** The agent and its helper processes together, in MiB (see the module comment); null when the agent is gone. */
export function agentRssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  const own = processRssMb(pid);
  if (own === null) return null;
  const agentMappings = residentByMapping(pid);
  let extraKb = 0;
  for (const helper of agentHelpers(pid)) {
    for (const [name, kb] of residentByMapping(helper)) {
      // Only file mappings are shared page cache; anonymous memory is the helper's own.
      const shared = name.startsWith('/') ? (agentMappings.get(name) ?? 0) : 0;
      extraKb += Math.max(0, kb - shared);
    }
  }
  return own + extraKb / 1024;
}
