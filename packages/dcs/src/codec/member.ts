/**
 * Member keys (`members/<name>`): Patroni's member JSON, and the legacy connection-URL form.
 */
import type { MemberData, MemberRole } from '../model.js';
import type { WriteCompatibility } from '../store.js';
import { isCount, isObject, parseObjectValue, toPatroniJson, type JsonObject } from './patroni-json.js';

const DEFAULT_COMPATIBILITY: WriteCompatibility = { legacyPrimaryRole: true };

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
      if (typeof v === 'string') {
        data.role = ROLES[v] ?? 'unknown';
        if (v === 'master' || v === 'primary') data.roleSpelling = v;
      } else bad.push(field);
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
