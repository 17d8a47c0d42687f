/**
 * The one query the controller runs per HA cycle, and the parsing of its row. Everything comes
 * back as text or JSON so the pg driver's type parsing does not matter.
 */
import { parseConninfo } from './conninfo.js';
import { parseLsn } from './lsn.js';
import { RECOVERY_PARAMETERS, comparableSetting } from './parameters.js';
import type { PendingRestartReason, ReplicationConnection, ReplicationSlot } from './contract.js';

const utc = (expr: string) => `pg_catalog.to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00'`;

/**
 * The WAL receiver's columns the state needs. PostgreSQL 10 has no sender_host / sender_port (11
 * added them): its conninfo (passwords masked) is returned instead and parsed (walReceiverUpstream).
 */
function walReceiverColumns(serverVersion: number): string {
  const common = `pid, status, received_tli, slot_name, ${utc('last_msg_receipt_time')} AS last_msg_receipt_time`;
  return serverVersion >= 110000 ? `${common}, sender_host, sender_port` : `${common}, conninfo`;
}

/**
 * The state query for a server version. $1: text[] of parameter names whose running value the
 * controller compares itself (command-line ones). Everything else in it exists from PostgreSQL 10
 * on (pg_control_*() from 9.6, the *_lsn names and pg_stat_replication's from 10).
 */
export function stateQuery(serverVersion: number): string {
  return STATE_QUERY_TEMPLATE.replace('$WAL_RECEIVER_COLUMNS', walReceiverColumns(serverVersion));
}

const STATE_QUERY_TEMPLATE = `
SELECT
  pg_catalog.pg_is_in_recovery() AS in_recovery,
  pg_catalog.current_setting('server_version_num') AS server_version,
  (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS system_identifier,
  ${utc('pg_catalog.pg_postmaster_start_time()')} AS postmaster_start_time,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_flush_lsn()::text END AS current_lsn,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
       ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_flush_lsn()), 1, 8))::bit(32)::int::text END AS primary_timeline,
  (SELECT timeline_id::text FROM pg_catalog.pg_control_checkpoint()) AS checkpoint_timeline,
  pg_catalog.pg_last_wal_receive_lsn()::text AS received_lsn,
  pg_catalog.pg_last_wal_replay_lsn()::text AS replayed_lsn,
  ${utc('pg_catalog.pg_last_xact_replay_timestamp()')} AS replayed_timestamp,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() ELSE false END AS replay_paused,
  (SELECT pg_catalog.row_to_json(w) FROM (SELECT $WAL_RECEIVER_COLUMNS
     FROM pg_catalog.pg_stat_wal_receiver) w) AS wal_receiver,
  (SELECT pg_catalog.json_agg(r) FROM (SELECT pid, usename, application_name, pg_catalog.host(client_addr) AS client_addr, state, sync_state,
     sync_priority, sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn
     FROM pg_catalog.pg_stat_replication ORDER BY application_name) r) AS replication,
  (SELECT pg_catalog.json_agg(s) FROM (SELECT slot_name, slot_type, active, restart_lsn::text AS restart_lsn,
     confirmed_flush_lsn::text AS confirmed_flush_lsn, database, plugin FROM pg_catalog.pg_replication_slots WHERE NOT temporary ORDER BY slot_name) s) AS slots,
  (SELECT pg_catalog.json_agg(p) FROM (SELECT name, setting, unit, pending_restart
     FROM pg_catalog.pg_settings WHERE pending_restart OR name = ANY($1::text[])) p) AS settings,
  pg_catalog.current_setting('synchronous_standby_names') AS synchronous_standby_names,
  (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'primary_conninfo') AS primary_conninfo,
  pg_catalog.current_setting('data_checksums') = 'on' OR pg_catalog.current_setting('wal_log_hints') = 'on' AS rewind_possible`;

export interface StateRow {
  in_recovery: boolean;
  server_version: string;
  system_identifier: string | null;
  postmaster_start_time: string | null;
  current_lsn: string | null;
  primary_timeline: string | null;
  checkpoint_timeline: string | null;
  received_lsn: string | null;
  replayed_lsn: string | null;
  replayed_timestamp: string | null;
  replay_paused: boolean | null;
  wal_receiver: {
    pid?: number;
    status?: string;
    received_tli?: number;
    sender_host?: string;
    sender_port?: number;
    conninfo?: string;
    slot_name?: string;
    last_msg_receipt_time?: string | null;
  } | null;
  /** The primary_conninfo in effect (PostgreSQL 12+; null on 10 and 11, where it is in recovery.conf). */
  primary_conninfo?: string | null;
  replication: Array<Record<string, unknown>> | null;
  slots: Array<Record<string, unknown>> | null;
  settings: Array<{ name: string; setting: string; unit: string | null; pending_restart: boolean }> | null;
  synchronous_standby_names: string | null;
  rewind_possible: boolean | null;
}

/** Host and port of a conninfo string (the first of a list), never its password. */
export function conninfoAddress(conninfo: string | null | undefined): { host: string | null; port: number | null } {
  if (!conninfo) return { host: null, port: null };
  const params = parseConninfo(conninfo);
  const port = params.port === undefined ? null : Number(params.port.split(',')[0]);
  return { host: params.host?.split(',')[0] ?? null, port: Number.isInteger(port) ? port : null };
}

/** The WAL receiver's upstream host and port: its columns from PostgreSQL 11, its conninfo on 10. */
export function walReceiverUpstream(receiver: NonNullable<StateRow['wal_receiver']>): { host: string | null; port: number | null } {
  if (receiver.sender_host !== undefined || receiver.conninfo === undefined) return { host: receiver.sender_host ?? null, port: receiver.sender_port ?? null };
  return conninfoAddress(receiver.conninfo);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};

export function parseReplication(rows: StateRow['replication']): ReplicationConnection[] {
  return (rows ?? []).map((r) => ({
    pid: num(r.pid) ?? 0,
    usename: str(r.usename),
    applicationName: str(r.application_name) ?? '',
    clientAddr: str(r.client_addr),
    state: str(r.state),
    syncState: str(r.sync_state),
    syncPriority: num(r.sync_priority),
    sentLsn: parseLsn(str(r.sent_lsn)),
    writeLsn: parseLsn(str(r.write_lsn)),
    flushLsn: parseLsn(str(r.flush_lsn)),
    replayLsn: parseLsn(str(r.replay_lsn)),
  }));
}

export function parseSlots(rows: Array<Record<string, unknown>> | null): ReplicationSlot[] {
  return (rows ?? []).map((r) => ({
    name: str(r.slot_name) ?? '',
    type: r.slot_type === 'logical' ? 'logical' : 'physical',
    active: r.active === true,
    restartLsn: parseLsn(str(r.restart_lsn)),
    confirmedFlushLsn: parseLsn(str(r.confirmed_flush_lsn)),
    database: str(r.database),
    plugin: str(r.plugin),
  }));
}

const memoryUnits: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/**
 * pg_settings gives `setting` in the parameter's base unit (`2048` with unit `8kB`); shows it the
 * way a DBA writes it (`16MB`).
 */
export function displaySetting(setting: string, unit: string | null): string {
  if (!unit) return setting;
  const m = /^(\d*)(B|kB|MB|GB|TB)$/.exec(unit);
  if (!m || !/^-?\d+$/.test(setting)) return `${setting}${unit}`;
  const bytes = Number(setting) * Number(m[1] || 1) * memoryUnits[m[2]!]!;
  for (const u of ['TB', 'GB', 'MB', 'kB']) {
    const size = memoryUnits[u]!;
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${u}`;
  }
  return `${bytes}B`;
}

/**
 * Which parameters wait for a restart: those PostgreSQL flags (file values it could not apply),
 * and those the controller passes on the command line whose wanted value differs from the running
 * one (PostgreSQL cannot flag these: the command line outranks the file). On a primary the
 * recovery settings are ignored: they were dropped from the file at promotion and mean nothing there.
 */
export function pendingRestart(
  settings: StateRow['settings'],
  wanted: ReadonlyMap<string, string>,
  commandLine: ReadonlyMap<string, string>,
  role: 'primary' | 'replica',
): PendingRestartReason {
  const reason: PendingRestartReason = {};
  for (const s of settings ?? []) {
    const current = displaySetting(s.setting, s.unit);
    if (s.pending_restart) {
      if (role === 'primary' && RECOVERY_PARAMETERS.has(s.name)) continue;
      reason[s.name] = { old_value: current, new_value: wanted.get(s.name) ?? '(default)' };
    } else if (commandLine.has(s.name)) {
      const value = commandLine.get(s.name)!;
      if (comparableSetting(s.name, value) !== comparableSetting(s.name, s.setting)) {
        reason[s.name] = { old_value: current, new_value: value };
      }
    }
  }
  return reason;
}
