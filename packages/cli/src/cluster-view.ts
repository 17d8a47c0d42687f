/**
 * The cluster as patronictl 3.0.2 lists it: one row per member (sorted by name) with the columns
 * `Cluster, Member, Host, Role, State, TL, Lag in MB`, plus `Pending restart`, `Scheduled
 * restart` and `Tags` when a member has them (or with `-e`). Roles are title-cased (`Leader`,
 * `Sync Standby`, `Replica`, `Standby Leader`); lag is measured from the leader's last published
 * position (`/status.optime`) in whole MB. The title also names the system identifier (as
 * Patroni 3.1+ does), or `uninitialized` / `initializing`.
 *
 * A cluster speaking Patroni 4 is listed as patronictl 4.1 does: `Receive LSN, Receive Lag,
 * Replay LSN, Replay Lag` instead of `Lag in MB` (member-positions.ts), a replica's replication
 * state, and `Pending restart reason`.
 */
import { isPaused, isStandbyClusterConfig, synchronousRoleOf, type Cluster, type Member, type PatroniDialect } from '@pgha/dcs';
import { failoverReadiness, patroniDialectOf, resolveEngineConfig } from '@pgha/ha-engine';
import { listedState, pendingRestartReason, positionCells } from './member-positions.js';
import type { Cell, OutputFormat, TableOutput } from './output.js';
import { roundHalfEven } from './python-text.js';

export const ROLE_CHOICES = ['leader', 'primary', 'standby-leader', 'replica', 'standby', 'any', 'master'] as const;
export type RoleChoice = (typeof ROLE_CHOICES)[number];

/** host and port of a member's `conn_url`. */
export function connParams(member: Member): { host: string; port: number } | null {
  const url = member.data.conn_url;
  if (!url) return null;
  try {
    const u = new URL(url);
    if (!u.hostname) return null;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 5432 };
  } catch {
    return null;
  }
}

/** Role as listed: leader / standby_leader / sync_standby / quorum_standby / replica (Patroni 4.1's names). */
export function listedRole(cluster: Cluster, member: Member): string {
  if (cluster.leader?.name === member.name) return isStandbyClusterConfig(cluster.config?.value) ? 'standby_leader' : 'leader';
  return synchronousRoleOf(cluster, member.name) ?? 'replica';
}

function titleCase(role: string): string {
  return role
    .split('_')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join(' ');
}

/** The `title` of the cluster table. */
export function clusterTitle(name: string, cluster: Cluster): string {
  const init = cluster.initialize === null ? 'uninitialized' : cluster.initialize.value === '' ? 'initializing' : cluster.initialize.value;
  return ` Cluster: ${name} (${init}) `;
}

function lastLsn(cluster: Cluster): number {
  return cluster.status?.value.optime ?? 0;
}

interface Row {
  member: Member;
  role: string;
  host: string;
  port: number | undefined;
  lag: number | string | undefined;
}

/** Members in topology order: the leader, then its replicas, cascading ones under their `replicatefrom`. */
function topologyOrder(rows: Row[]): { row: Row; depth: number }[] {
  const leader = rows.find((r) => r.role.endsWith('leader'));
  const replicas = new Set(rows.filter((r) => !r.role.endsWith('leader')).map((r) => r.member.name));
  const children = new Map<string | undefined, Row[]>();
  for (const r of rows) {
    if (r.role.endsWith('leader')) continue;
    const from = r.member.data.tags.replicatefrom;
    const parent = typeof from === 'string' && from !== r.member.name && replicas.has(from) ? from : leader?.member.name;
    children.set(parent, [...(children.get(parent) ?? []), r]);
  }
  const out: { row: Row; depth: number }[] = [];
  const seen = new Set<string>();
  const walk = (row: Row | undefined, name: string | undefined, depth: number): void => {
    if (row) {
      if (seen.has(row.member.name)) return;
      seen.add(row.member.name);
      out.push({ row, depth });
    }
    for (const child of children.get(name) ?? []) walk(child, child.member.name, depth + 1);
  };
  walk(leader, leader?.member.name, 0);
  return out;
}

export function serviceInfo(cluster: Cluster): string[] {
  const info: string[] = [];
  if (isPaused(cluster)) info.push('Maintenance mode: on');
  // pgha's own line (patronictl has none): a cluster whose leader has no possible successor says so.
  const readiness = failoverReadiness(cluster, resolveEngineConfig(cluster.config?.value).config);
  if (cluster.leader && !readiness.possible && !isPaused(cluster)) info.push(`Automatic failover: not possible (${readiness.reason})`);
  const f = cluster.failover?.value;
  if (f?.scheduled_at) {
    let line = `Switchover scheduled at: ${f.scheduled_at}`;
    if (f.leader) line += `\n${'from'.padStart(24)}: ${f.leader}`;
    if (f.member) line += `\n${'to'.padStart(24)}: ${f.member}`;
    info.push(line);
  }
  return info;
}

export interface MembersTableOptions {
  name: string;
  extended?: boolean;
  format: OutputFormat;
  /** Whose patronictl to imitate (default 3: 3.0.2's columns); see listDialect. */
  patroniDialect?: PatroniDialect;
}

/**
 * Which patronictl `list` imitates: the configuration's `patroni_compatibility` (3 or 4), else 4
 * when a member's key shows Patroni 4 (the engine's rule, patroni-dialect.ts), else 3.
 */
export function listDialect(cluster: Cluster, configured: unknown): PatroniDialect {
  const n = typeof configured === 'number' || typeof configured === 'string' ? Number(String(configured).trim()) : NaN;
  return patroniDialectOf(cluster, { configured: n === 3 || n === 4 ? n : null, me: '' }) ?? 3;
}

export function membersTable(cluster: Cluster, options: MembersTableOptions): TableOutput {
  const lsn = lastLsn(cluster);
  const rows: Row[] = [...cluster.members]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((member) => {
      const conn = connParams(member);
      let lag: number | string | undefined;
      if (cluster.leader?.name !== member.name) {
        const pos = member.data.xlog_location;
        lag = pos === undefined ? 'unknown' : lsn >= pos ? lsn - pos : 0;
      }
      return { member, role: listedRole(cluster, member), host: conn?.host ?? '', port: conn?.port, lag };
    });
  const withHost = rows.filter((r) => r.host !== '');
  const four = options.patroniDialect === 4;
  const drawn = options.format === 'pretty' || options.format === 'topology';
  const columns = ['Cluster', 'Member', 'Host', 'Role', 'State', 'TL', ...(four ? ['Receive LSN', 'Receive Lag', 'Replay LSN', 'Replay Lag'] : ['Lag in MB'])];
  const has = {
    pending: options.extended || withHost.some((r) => r.member.data.pending_restart),
    reason: four && (options.extended || withHost.some((r) => Object.keys(r.member.data.pending_restart_reason ?? {}).length > 0)),
    scheduled: options.extended || withHost.some((r) => r.member.data.scheduled_restart),
    tags: options.extended || withHost.some((r) => Object.keys(r.member.data.tags).length > 0),
    // pgha members whose required watchdog is unusable may not promote: say so (never shown otherwise).
    watchdog: withHost.some((r) => r.member.data.extra['watchdog_failed'] === true),
  };
  if (has.pending) columns.push('Pending restart');
  if (has.reason) columns.push('Pending restart reason');
  if (has.scheduled) columns.push('Scheduled restart');
  if (has.tags) columns.push('Tags');
  if (has.watchdog) columns.push('Watchdog');
  // host:port when a port is not the default or two members share a host, as patronictl does.
  const appendPort = withHost.some((r) => r.port !== 5432) || new Set(withHost.map((r) => r.host)).size < withHost.length;

  const ordered = options.format === 'topology' ? topologyOrder(rows) : rows.map((row) => ({ row, depth: 0 }));
  const cells: Cell[][] = ordered.map(({ row, depth }) => {
    const d = row.member.data;
    const name = depth > 0 ? `${' '.repeat((depth - 1) * 2)}+ ${row.member.name}` : row.member.name;
    const host = appendPort && row.host && row.port !== undefined ? `${row.host}:${row.port}` : row.host;
    const lag = typeof row.lag === 'number' ? roundHalfEven(row.lag / 1024 / 1024) : (row.lag ?? '');
    const line: Cell[] = four
      ? [options.name, name, host, titleCase(row.role), listedState(cluster, row.member), d.timeline ?? '', ...positionCells(cluster, row.member)]
      : [options.name, name, host, titleCase(row.role), d.state ?? '', d.timeline ?? '', lag];
    if (has.pending) line.push(d.pending_restart ? '*' : '');
    if (has.reason) line.push(pendingRestartReason(row.member, drawn));
    if (has.scheduled) {
      const s = d.scheduled_restart;
      let text = '';
      if (s && typeof s.schedule === 'string') {
        text = s.schedule;
        if (s.postgres_version !== undefined) text += ` if version < ${String(s.postgres_version)}`;
      }
      line.push(text);
    }
    if (has.tags) line.push(Object.keys(d.tags).length > 0 ? d.tags : '');
    if (has.watchdog) line.push(d.extra['watchdog_failed'] === true ? 'failed: may not promote' : '');
    return line;
  });
  // patronictl 4.1 heads both lag columns `Lag` in a drawn table.
  const shown = four && drawn ? columns.map((c) => (c === 'Receive Lag' || c === 'Replay Lag' ? 'Lag' : c)) : columns;
  return {
    kind: 'table',
    columns: shown,
    rows: cells,
    align: four ? { 'Receive LSN': 'r', 'Replay LSN': 'r', Lag: 'r', TL: 'r' } : { 'Lag in MB': 'r', TL: 'r' },
    format: options.format,
    title: clusterTitle(options.name, cluster),
    footer: drawn ? serviceInfo(cluster) : [],
  };
}

/** Members with `role`, as patronictl's `get_all_members` picks them (the leader only for leader roles). */
export function membersWithRole(cluster: Cluster, role: RoleChoice): Member[] {
  const leaderName = cluster.leader?.name;
  const leader = cluster.members.find((m) => m.name === leaderName);
  if (role === 'leader' || role === 'primary' || role === 'master' || role === 'standby-leader') {
    if (!leader) return [];
    const r = leader.data.role;
    if (role === 'leader') return [leader];
    if (role === 'standby-leader') return r !== 'primary' ? [leader] : [];
    return r !== 'standby_leader' ? [leader] : [];
  }
  return cluster.members.filter((m) => role === 'any' || m.name !== leaderName);
}

/** True when nothing at all is stored for the cluster. */
export function clusterIsEmpty(cluster: Cluster): boolean {
  return cluster.initialize === null && cluster.config === null && cluster.leader === null && cluster.members.length === 0 && cluster.history === null;
}
