/**
 * The single-value keys of a cluster: `leader`, `config`, `failover`, `sync`, `history`,
 * `status` (and the legacy `optime/leader`) and `failsafe`.
 */
import { parse as parseYaml } from 'yaml';
import { dcsValueOutOfBounds } from '../json-bounds.js';
import { KEY } from '../keys.js';
import type { ClusterConfig, Failover, Failsafe, Status, SyncState, TimelineHistory, TimelineHistoryEntry } from '../model.js';
import { abbreviate, compareNames, describeJsonType, isCount, isObject, parseJson, parseObjectValue, toPatroniJson, type JsonObject, type Parsed } from './patroni-json.js';

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
    warnings.push(`${key}: expected a JSON object, got ${describeJsonType(json)}`);
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
    warnings.push(`${key}: expected a JSON array, got ${describeJsonType(parsed.json)}`);
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
    warnings.push(`${key}: expected a JSON object, got ${describeJsonType(json)}`);
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
