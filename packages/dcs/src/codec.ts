/**
 * Patroni's JSON for every key of a cluster, both ways.
 *
 * Reading is lenient: a value that cannot be read becomes null (or, for a member, empty data)
 * plus a warning naming the key, and a single bad field of an otherwise good value is dropped
 * with a warning rather than spoiling the rest. Nothing here throws on input from the DCS.
 *
 * Writing produces what Patroni's `json.dumps(..., separators=(',', ':'))` produces: compact,
 * keys in Patroni's order, and non-ASCII characters escaped as `\uXXXX` (Python's default
 * `ensure_ascii`), so a value pgha writes is byte-for-byte the one Patroni would write.
 */
import type { RawCluster, RawNode } from './driver.js';
import { KEY, MEMBERS_DIR } from './keys.js';
import { emptyCluster } from './model.js';
import { dcsValueOutOfBounds } from './json-bounds.js';
import type {
  Cluster,
  ClusterConfig,
  Failover,
  Failsafe,
  Member,
  MemberData,
  MemberRole,
  Status,
  SyncState,
  TimelineHistory,
  TimelineHistoryEntry,
} from './model.js';
import type { WriteCompatibility } from './store.js';
import { parse as parseYaml } from 'yaml';

/** A leniently parsed value: null when unreadable, with the reasons in `warnings`. */
export interface Parsed<T> {
  value: T | null;
  warnings: string[];
}

type JsonObject = Record<string, unknown>;

const DEFAULT_COMPATIBILITY: WriteCompatibility = { legacyPrimaryRole: true };

/** Compact JSON with non-ASCII characters escaped, as Python's `json.dumps` writes it. */
export function toPatroniJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** JSON.parse that reports instead of throwing; values too large or too deep are refused (json-bounds.ts). */
function parseJson(value: string, key: string, warnings: string[]): { ok: true; json: unknown } | { ok: false } {
  const outOfBounds = dcsValueOutOfBounds(value);
  if (outOfBounds !== null) {
    warnings.push(`${key}: ${outOfBounds}`);
    return { ok: false };
  }
  try {
    return { ok: true, json: JSON.parse(value) as unknown };
  } catch {
    warnings.push(`${key}: not valid JSON: ${abbreviate(value)}`);
    return { ok: false };
  }
}

function abbreviate(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

/** WAL positions, timelines and counts: JSON numbers that are exact non-negative integers. */
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseObjectValue(value: string, key: string, warnings: string[]): JsonObject | null {
  const parsed = parseJson(value, key, warnings);
  if (!parsed.ok) return null;
  if (!isObject(parsed.json)) {
    warnings.push(`${key}: expected a JSON object, got ${describe(parsed.json)}`);
    return null;
  }
  return parsed.json;
}

// --- members ---------------------------------------------------------------------------------

const ROLES: Record<string, MemberRole> = {
  master: 'primary',
  primary: 'primary',
  replica: 'replica',
  standby_leader: 'standby_leader',
  demoted: 'demoted',
  uninitialized: 'uninitialized',
  promoted: 'promoted',
};

const MEMBER_STRINGS = ['conn_url', 'api_url', 'proxy_url', 'state', 'version', 'replication_state'] as const;
const MEMBER_COUNTS = ['xlog_location', 'receive_lsn', 'replay_lsn', 'timeline'] as const;
const MEMBER_FLAGS = ['pending_restart', 'checkpoint_after_promote', 'pause'] as const;
const MEMBER_OBJECTS = ['pending_restart_reason', 'scheduled_restart'] as const;
const MEMBER_FIELDS = new Set<string>(['role', 'tags', ...MEMBER_STRINGS, ...MEMBER_COUNTS, ...MEMBER_FLAGS, ...MEMBER_OBJECTS]);

function emptyMemberData(): MemberData {
  return { role: 'unknown', tags: {}, extra: {} };
}

/**
 * Reads a member key's value. Patroni's JSON form, and the legacy form (a connection URL whose
 * `application_name` parameter carries the API URL). Never fails: unreadable input gives empty
 * data (role `unknown`) and a warning.
 */
export function parseMemberData(value: string, key = 'members/?'): { data: MemberData; warnings: string[] } {
  const warnings: string[] = [];
  const data = emptyMemberData();
  if (value.startsWith('postgres')) {
    const legacy = parseLegacyMemberUrl(value);
    if (legacy) return { data: { ...data, ...legacy }, warnings };
  }
  const json = parseObjectValue(value, key, warnings);
  if (json === null) return { data, warnings };

  const bad: string[] = [];
  for (const [field, v] of Object.entries(json)) {
    if (!MEMBER_FIELDS.has(field)) {
      data.extra[field] = v;
    } else if (field === 'role') {
      if (typeof v === 'string') data.role = ROLES[v] ?? 'unknown';
      else bad.push(field);
    } else if (field === 'tags') {
      if (isObject(v)) data.tags = v;
      else if (v !== null) bad.push(field);
    } else if ((MEMBER_STRINGS as readonly string[]).includes(field)) {
      if (typeof v === 'string') (data as unknown as JsonObject)[field] = v;
      else if (v !== null) bad.push(field);
    } else if ((MEMBER_COUNTS as readonly string[]).includes(field)) {
      if (isCount(v)) (data as unknown as JsonObject)[field] = v;
      else if (v !== null) bad.push(field);
    } else if ((MEMBER_FLAGS as readonly string[]).includes(field)) {
      if (typeof v === 'boolean') (data as unknown as JsonObject)[field] = v;
      else if (v !== null) bad.push(field);
    } else if (field === 'pending_restart_reason') {
      if (isObject(v) && Object.values(v).every(isObject)) data.pending_restart_reason = v as MemberData['pending_restart_reason'];
      else if (v !== null) bad.push(field);
    } else if (field === 'scheduled_restart') {
      if (isObject(v)) data.scheduled_restart = v;
      else if (v !== null) bad.push(field);
    }
  }
  if (bad.length > 0) warnings.push(`${key}: ignored malformed field${bad.length > 1 ? 's' : ''} ${bad.join(', ')}`);
  return { data, warnings };
}

function parseLegacyMemberUrl(value: string): Pick<MemberData, 'conn_url' | 'api_url'> | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const apiUrl = url.searchParams.get('application_name');
  const q = value.indexOf('?');
  const result: Pick<MemberData, 'conn_url' | 'api_url'> = { conn_url: q >= 0 ? value.slice(0, q) : value };
  if (apiUrl !== null) result.api_url = apiUrl;
  return result;
}

/**
 * Member JSON as Patroni writes it: `conn_url, api_url, state, role, version` first, then the
 * optional fields, then whatever unknown fields were read (`extra`). Empty `tags` and false
 * `pending_restart` / `pause` are left out, as Patroni does.
 */
export function serializeMemberData(data: MemberData, compatibility: Partial<WriteCompatibility> = {}): string {
  const { legacyPrimaryRole } = { ...DEFAULT_COMPATIBILITY, ...compatibility };
  const out: JsonObject = {};
  const put = (field: string, v: unknown): void => {
    if (v !== undefined) out[field] = v;
  };
  put('conn_url', data.conn_url);
  put('api_url', data.api_url);
  put('state', data.state);
  if (data.role !== 'unknown') put('role', data.role === 'primary' && legacyPrimaryRole ? 'master' : data.role);
  put('version', data.version);
  put('proxy_url', data.proxy_url);
  put('checkpoint_after_promote', data.checkpoint_after_promote);
  if (Object.keys(data.tags).length > 0) put('tags', data.tags);
  if (data.pending_restart) put('pending_restart', true);
  put('pending_restart_reason', data.pending_restart_reason);
  put('xlog_location', data.xlog_location);
  put('receive_lsn', data.receive_lsn);
  put('replay_lsn', data.replay_lsn);
  put('replication_state', data.replication_state);
  put('timeline', data.timeline);
  put('scheduled_restart', data.scheduled_restart);
  if (data.pause) put('pause', true);
  for (const [field, v] of Object.entries(data.extra)) {
    if (!MEMBER_FIELDS.has(field)) put(field, v);
  }
  return toPatroniJson(out);
}

// --- leader, initialize, config ----------------------------------------------------------------

/** The `leader` key: a plain member name. An empty value holds no name and reads as null. */
export function parseLeader(value: string, key: string = KEY.leader): Parsed<string> {
  if (value === '') return { value: null, warnings: [`${key}: empty value, read as no leader`] };
  return { value, warnings: [] };
}

/**
 * The `config` key. Operators edit it by hand (the seed manual's `set /service/<scope>/config
 * {..."wal_level":logical...}` in zkCli), and such edits are often not strict JSON: bare words,
 * single quotes. A value that is not JSON but reads as a YAML flow mapping is accepted, with a
 * warning, rather than ignored.
 */
export function parseConfig(value: string, key: string = KEY.config): Parsed<ClusterConfig> {
  const warnings: string[] = [];
  const strict = parseObjectValue(value, key, warnings);
  // The YAML parser recurses too: an out-of-bounds value is not given a second chance.
  if (strict !== null || !value.trim().startsWith('{') || dcsValueOutOfBounds(value) !== null) return { value: strict, warnings };
  try {
    const relaxed: unknown = parseYaml(value);
    if (isObject(relaxed)) {
      return { value: relaxed, warnings: [`${key}: not strict JSON; read leniently (bare words as strings): ${abbreviate(value)}`] };
    }
  } catch {
    // Neither JSON nor YAML: keep the JSON warning.
  }
  return { value: null, warnings };
}

export function serializeConfig(config: ClusterConfig): string {
  return toPatroniJson(config);
}

// --- failover ----------------------------------------------------------------------------------

/**
 * The `failover` key. `{}` (what Patroni writes to clear it), an empty value and an object
 * without names all read as null. A value that is not JSON is the legacy `leader:candidate`
 * form.
 */
export function parseFailover(value: string, key: string = KEY.failover): Parsed<Failover> {
  const warnings: string[] = [];
  if (value.trim() === '') return { value: null, warnings };
  const outOfBounds = dcsValueOutOfBounds(value);
  if (outOfBounds !== null) return { value: null, warnings: [`${key}: ${outOfBounds}`] };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    const [leader = '', member = ''] = value.split(':').map((s) => s.trim());
    const legacy: Failover = {};
    if (leader) legacy.leader = leader;
    if (member) legacy.member = member;
    return { value: leader || member ? legacy : null, warnings };
  }
  if (!isObject(json)) {
    warnings.push(`${key}: expected a JSON object, got ${describe(json)}`);
    return { value: null, warnings };
  }
  const failover: Failover = {};
  const bad: string[] = [];
  for (const field of ['leader', 'member', 'scheduled_at'] as const) {
    const v = json[field];
    if (typeof v === 'string' && v !== '') failover[field] = v;
    else if (v !== undefined && v !== null && v !== '') bad.push(field);
  }
  if (bad.length > 0) warnings.push(`${key}: ignored malformed field${bad.length > 1 ? 's' : ''} ${bad.join(', ')}`);
  if (failover.leader === undefined && failover.member === undefined) return { value: null, warnings };
  return { value: failover, warnings };
}

/** `{"leader":..,"member":..,"scheduled_at":..}` with absent fields left out; `{}` clears. */
export function serializeFailover(failover: Failover): string {
  const out: JsonObject = {};
  if (failover.leader !== undefined) out.leader = failover.leader;
  if (failover.member !== undefined) out.member = failover.member;
  if (failover.scheduled_at !== undefined) out.scheduled_at = failover.scheduled_at;
  return toPatroniJson(out);
}

// --- sync --------------------------------------------------------------------------------------

/**
 * The `sync` key. `{}` (what Patroni's ZooKeeper driver writes to clear it) reads as a state
 * with no leader, keeping its version for the next compare-and-set.
 */
export function parseSync(value: string, key: string = KEY.sync): Parsed<SyncState> {
  const warnings: string[] = [];
  const json = parseObjectValue(value, key, warnings);
  if (json === null) return { value: null, warnings };
  const bad: string[] = [];
  const state: SyncState = { leader: null, sync_standby: [], quorum: 0 };
  if (typeof json.leader === 'string' && json.leader !== '') state.leader = json.leader;
  else if (json.leader !== undefined && json.leader !== null && json.leader !== '') bad.push('leader');
  const standby = json.sync_standby;
  if (typeof standby === 'string') state.sync_standby = splitNames(standby);
  else if (Array.isArray(standby) && standby.every((s) => typeof s === 'string')) state.sync_standby = standby.filter((s) => s !== '');
  else if (standby !== undefined && standby !== null) bad.push('sync_standby');
  state.sync_standby.sort(compareNames);
  if (isCount(json.quorum)) state.quorum = json.quorum;
  else if (json.quorum !== undefined && json.quorum !== null) bad.push('quorum');
  if (bad.length > 0) warnings.push(`${key}: ignored malformed field${bad.length > 1 ? 's' : ''} ${bad.join(', ')}`);
  return { value: state, warnings };
}

function splitNames(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Code-unit order, as Python's `sorted` of str. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `{"leader":..,"sync_standby":"a,b"|null}` (standbys sorted and comma-joined) as Patroni 3.x
 * writes it; `quorum` (Patroni 4.0+) only in quorum mode, where it is non-zero, so 3.x readers
 * see exactly their own format otherwise. Readers of either version take a missing quorum as 0.
 */
export function serializeSync(sync: SyncState): string {
  const standby = [...sync.sync_standby].sort(compareNames);
  const out: JsonObject = { leader: sync.leader };
  if (sync.quorum > 0) out.quorum = sync.quorum;
  out.sync_standby = standby.length > 0 ? standby.join(',') : null;
  return toPatroniJson(out);
}

// --- history -----------------------------------------------------------------------------------

/** The `history` key: `[[timeline, lsn, reason, timestamp?, new_leader?], ...]`. Bad lines are skipped. */
export function parseHistory(value: string, key: string = KEY.history): Parsed<TimelineHistory> {
  const warnings: string[] = [];
  const parsed = parseJson(value, key, warnings);
  if (!parsed.ok) return { value: null, warnings };
  if (!Array.isArray(parsed.json)) {
    warnings.push(`${key}: expected a JSON array, got ${describe(parsed.json)}`);
    return { value: null, warnings };
  }
  const history: TimelineHistory = [];
  let skipped = 0;
  for (const line of parsed.json as unknown[]) {
    const entry = parseHistoryLine(line);
    if (entry) history.push(entry);
    else skipped += 1;
  }
  if (skipped > 0) warnings.push(`${key}: skipped ${skipped} malformed line${skipped > 1 ? 's' : ''}`);
  return { value: history, warnings };
}

function parseHistoryLine(line: unknown): TimelineHistoryEntry | null {
  if (!Array.isArray(line) || line.length < 3) return null;
  const [timeline, lsn, reason, timestamp, newLeader] = line as unknown[];
  if (!isCount(timeline) || !isCount(lsn) || typeof reason !== 'string') return null;
  const entry: TimelineHistoryEntry = { timeline, lsn, reason };
  if (typeof timestamp === 'string') entry.timestamp = timestamp;
  if (typeof newLeader === 'string') entry.new_leader = newLeader;
  return entry;
}

export function serializeHistory(history: TimelineHistory): string {
  return toPatroniJson(
    history.map((e) => {
      const line: unknown[] = [e.timeline, e.lsn, e.reason];
      if (e.timestamp !== undefined || e.new_leader !== undefined) line.push(e.timestamp ?? null);
      if (e.new_leader !== undefined) line.push(e.new_leader);
      return line;
    }),
  );
}

// --- status ------------------------------------------------------------------------------------

/** The `status` key. A bare number (an older writer) is read as the optime. */
export function parseStatus(value: string, key: string = KEY.status): Parsed<Status> {
  const warnings: string[] = [];
  const parsed = parseJson(value, key, warnings);
  if (!parsed.ok) return { value: null, warnings };
  const json = parsed.json;
  if (isCount(json)) return { value: { optime: json, slots: {}, retain_slots: [] }, warnings };
  if (!isObject(json)) {
    warnings.push(`${key}: expected a JSON object, got ${describe(json)}`);
    return { value: null, warnings };
  }
  const bad: string[] = [];
  const status: Status = { optime: null, slots: {}, retain_slots: [] };
  if (isCount(json.optime)) status.optime = json.optime;
  else if (json.optime !== undefined && json.optime !== null) bad.push('optime');
  if (isObject(json.slots)) {
    for (const [slot, lsn] of Object.entries(json.slots)) {
      if (isCount(lsn)) status.slots[slot] = lsn;
      else bad.push(`slots.${slot}`);
    }
  } else if (json.slots !== undefined && json.slots !== null) {
    bad.push('slots');
  }
  const retain = json.retain_slots;
  if (Array.isArray(retain) && retain.every((s) => typeof s === 'string')) status.retain_slots = [...retain];
  else if (retain !== undefined && retain !== null) bad.push('retain_slots');
  if (bad.length > 0) warnings.push(`${key}: ignored malformed field${bad.length > 1 ? 's' : ''} ${bad.join(', ')}`);
  return { value: status, warnings };
}

/** The legacy `optime/leader` key: the leader's WAL position as a decimal string. */
export function parseLegacyOptime(value: string, key: string = KEY.legacyOptime): Parsed<Status> {
  const trimmed = value.trim();
  const optime = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(optime)) return { value: null, warnings: [`${key}: expected a WAL position, got ${abbreviate(value)}`] };
  return { value: { optime, slots: {}, retain_slots: [] }, warnings: [] };
}

/** `{"optime":n,"slots":{..},"retain_slots":[..]}`, leaving out empty `slots` and `retain_slots` as Patroni does. */
export function serializeStatus(status: Status): string {
  const out: JsonObject = { optime: status.optime };
  if (Object.keys(status.slots).length > 0) out.slots = status.slots;
  if (status.retain_slots.length > 0) out.retain_slots = status.retain_slots;
  return toPatroniJson(out);
}

// --- failsafe ----------------------------------------------------------------------------------

/** The `failsafe` key: member name → API URL. Entries that are not strings are dropped. */
export function parseFailsafe(value: string, key: string = KEY.failsafe): Parsed<Failsafe> {
  const warnings: string[] = [];
  const json = parseObjectValue(value, key, warnings);
  if (json === null) return { value: null, warnings };
  const failsafe: Failsafe = {};
  const bad: string[] = [];
  for (const [member, url] of Object.entries(json)) {
    if (typeof url === 'string') failsafe[member] = url;
    else bad.push(member);
  }
  if (bad.length > 0) warnings.push(`${key}: ignored malformed entr${bad.length > 1 ? 'ies' : 'y'} ${bad.join(', ')}`);
  return { value: failsafe, warnings };
}

export function serializeFailsafe(failsafe: Failsafe): string {
  return toPatroniJson(failsafe);
}

// --- the whole cluster -------------------------------------------------------------------------

/**
 * Builds the cluster model from one load. Unknown keys are ignored; unreadable values become
 * null (members: empty data) with a line in `warnings`. The legacy `optime/leader` key stands in
 * for `status` when that is absent or unreadable.
 */
export function decodeCluster(raw: RawCluster): Cluster {
  const cluster = emptyCluster();
  const warnings = cluster.warnings;
  const versioned = <T>(node: RawNode, parsed: Parsed<T>): { value: T; version: string } | null => {
    warnings.push(...parsed.warnings);
    return parsed.value === null ? null : { value: parsed.value, version: node.version };
  };
  let legacyOptime: RawNode | undefined;

  for (const [key, node] of raw.nodes) {
    if (key.startsWith(MEMBERS_DIR)) {
      const name = key.slice(MEMBERS_DIR.length);
      if (name === '' || name.includes('/')) continue;
      const { data, warnings: w } = parseMemberData(node.value, key);
      warnings.push(...w);
      const member: Member = { name, version: node.version, data };
      if (node.owner !== undefined) member.owner = node.owner;
      cluster.members.push(member);
      continue;
    }
    switch (key) {
      case KEY.initialize:
        cluster.initialize = { value: node.value, version: node.version };
        break;
      case KEY.leader: {
        const parsed = parseLeader(node.value, key);
        warnings.push(...parsed.warnings);
        if (parsed.value !== null) {
          cluster.leader = { name: parsed.value, version: node.version };
          if (node.owner !== undefined) cluster.leader.owner = node.owner;
        }
        break;
      }
      case KEY.config: {
        const parsed = parseConfig(node.value, key);
        cluster.config = versioned(node, parsed);
        if (parsed.value === null) cluster.configError = { value: parsed.warnings.join('; ') || `${key}: unreadable`, version: node.version };
        break;
      }
      case KEY.failover:
        cluster.failover = versioned(node, parseFailover(node.value, key));
        break;
      case KEY.sync:
        cluster.sync = versioned(node, parseSync(node.value, key));
        break;
      case KEY.history:
        cluster.history = versioned(node, parseHistory(node.value, key));
        break;
      case KEY.status:
        cluster.status = versioned(node, parseStatus(node.value, key));
        break;
      case KEY.failsafe:
        cluster.failsafe = versioned(node, parseFailsafe(node.value, key));
        break;
      case KEY.legacyOptime:
        legacyOptime = node;
        break;
    }
  }
  if (cluster.status === null && legacyOptime !== undefined) {
    cluster.status = versioned(legacyOptime, parseLegacyOptime(legacyOptime.value));
  }
  cluster.members.sort((a, b) => compareNames(a.name, b.name));
  return cluster;
}
