/**
 * An agent's resident memory as /proc reports it: the agent process plus the helper processes
 * it runs for itself (pgha's ZooKeeper session child), without PostgreSQL, which both agents
 * start and which is measured apart. Without the helpers, an agent that moved work into a child
 * process would look smaller than it is.
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

/** VmRSS of the agent and its helper processes together, in MiB; null when the agent is gone. */
export function agentRssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  const own = processRssMb(pid);
  if (own === null) return null;
  return agentHelpers(pid).reduce((sum, p) => sum + (processRssMb(p) ?? 0), own);
}
