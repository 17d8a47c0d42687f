/**
 * The `zookeeper:` section of a Patroni YAML file, validated. Keys: `hosts` (list or comma string
 * of `host[:port]`, optionally ending in a chroot), `use_ssl`, `cacert`, `cert`, `key`,
 * `key_password`, `verify`, `set_acls`, `auth_data`. Errors are `DCS_CONFIG` naming the key path.
 */
import { createHash } from 'node:crypto';
import { DcsError, DcsErrorCode, parseBool, type Logger } from '@pgha/dcs';
import { PERM, type AclEntry } from './protocol.js';

export interface ZooKeeperSettings {
  /** `host:port` entries, in the order given. */
  hosts: string[];
  /** Optional chroot suffix of the connect string (`/path`), or ''. */
  chroot: string;
  /** What the native client gets: `h1:p1,h2:p2[/chroot]`. */
  connectString: string;
  /** Credentials added to the session after connecting, as [scheme, credential]. */
  auth: Array<[string, string]>;
  /** The ACL of every znode the driver creates; empty: `world:anyone` with all permissions. */
  acl: AclEntry[];
}

const DEFAULT_PORT = 2181;
const KNOWN_KEYS = new Set(['hosts', 'use_ssl', 'cacert', 'cert', 'key', 'key_password', 'verify', 'set_acls', 'auth_data']);
const TLS_KEYS = ['cacert', 'cert', 'key', 'key_password', 'verify'] as const;
const ACL_PERMISSIONS: Record<string, number> = { CREATE: PERM.create, READ: PERM.read, WRITE: PERM.write, DELETE: PERM.delete, ADMIN: PERM.admin, ALL: PERM.all };
/** `scheme:id`, ZooKeeper's own notation; a key without one is an x509 name, as in Patroni. */
const SCHEME_PREFIX = /^([A-Za-z][A-Za-z0-9_-]*):([^]*)$/;
/** A digest ACL id's hash: base64 of a SHA-1. */
const DIGEST_HASH = /^[A-Za-z0-9+/]{27}=$/;

/** What the x509 refusals tell: the client library pgha runs has no TLS (see `use_ssl`). */
const NO_TLS =
  'the npm "zookeeper" addon (7.3.0) that pgha runs opens every connection with zookeeper_init(), which is plain TCP: ' +
  'its bundled ZooKeeper C client 3.8.0 has zookeeper_init_ssl(), but the addon never calls it and takes no certificate option';

function configError(path: string, message: string, hint?: string): DcsError {
  return new DcsError(DcsErrorCode.Config, `zookeeper.${path}: ${message}`, hint === undefined ? {} : { hint });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One `host[:port]` entry (IPv6 in brackets), normalised to `host:port`. */
function parseHost(raw: string, path: string): string {
  const entry = raw.trim();
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)(?::(\d+))?$/.exec(entry);
  if (!m) throw configError(path, `"${raw}" is not host[:port]`);
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw configError(path, `port of "${raw}" is not in 1-65535`);
  return `${m[1]}:${port}`;
}

function parseHosts(value: unknown): { hosts: string[]; chroot: string } {
  let entries: Array<{ raw: string; path: string }>;
  if (typeof value === 'string') {
    entries = value.split(',').map((raw, i) => ({ raw, path: `hosts (entry ${i + 1})` }));
  } else if (Array.isArray(value)) {
    entries = value.map((raw, i) => {
      if (typeof raw !== 'string') throw configError(`hosts[${i}]`, `expected a "host:port" string, got ${typeof raw}`);
      return { raw, path: `hosts[${i}]` };
    });
  } else if (value === undefined || value === null) {
    throw configError('hosts', 'is required (a list of host:port, or a comma-separated string)');
  } else {
    throw configError('hosts', `expected a list or a comma-separated string, got ${typeof value}`);
  }
  entries = entries.filter((e) => e.raw.trim() !== '');
  if (entries.length === 0) throw configError('hosts', 'names no host');
  // Like kazoo and the C client, a chroot may follow the last host: "zk1:2181,zk2:2181/patroni".
  let chroot = '';
  const last = entries[entries.length - 1]!;
  const slash = last.raw.indexOf('/');
  if (slash >= 0) {
    chroot = last.raw.slice(slash).trim();
    last.raw = last.raw.slice(0, slash);
    if (!/^(\/[^/\s]+)+$/.test(chroot)) throw configError(last.path, `chroot "${chroot}" is not an absolute znode path`);
  }
  return { hosts: entries.map((e) => parseHost(e.raw, e.path)), chroot };
}

function optionalBoolean(section: Record<string, unknown>, key: string): boolean | undefined {
  const v = section[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  const flag = typeof v === 'string' ? parseBool(v) : null;
  if (flag !== null) return flag;
  throw configError(key, `expected true or false, got ${JSON.stringify(v)}`);
}

function parseAuthData(data: unknown): Array<[string, string]> {
  const auth: Array<[string, string]> = [];
  if (data === undefined || data === null) return auth;
  if (!isRecord(data)) throw configError('auth_data', 'expected a mapping of scheme to credential, e.g. {digest: "user:password"}');
  for (const [scheme, credential] of Object.entries(data)) {
    if (typeof credential !== 'string' || credential === '') {
      throw configError(`auth_data.${scheme}`, 'expected a non-empty credential string');
    }
    auth.push([scheme, credential]);
  }
  return auth;
}

/** The digest ACL id a `user:password` credential authenticates as: `user:base64(sha1(user:password))`. */
export function digestId(credential: string): string {
  const user = credential.slice(0, Math.max(credential.indexOf(':'), 0));
  return `${user}:${createHash('sha1').update(credential, 'utf8').digest('base64')}`;
}

function parsePrincipal(principal: string, path: string): { scheme: string; id: string } {
  const m = SCHEME_PREFIX.exec(principal);
  const scheme = m ? m[1]!.toLowerCase() : 'x509';
  const id = m ? m[2]! : principal;
  switch (scheme) {
    case 'x509':
      throw configError(
        path,
        `${m ? 'an x509 principal' : "a principal without a scheme is an x509 certificate name (Patroni's meaning)"}, which only a TLS client certificate can authenticate as, and TLS is impossible: ${NO_TLS}`,
        'write the principal with its scheme, e.g. digest:<user>:<base64 SHA-1 of "user:password"> together with auth_data: {digest: "<user>:<password>"}; other schemes: world:anyone, ip:<address[/bits]>, sasl:<name>, auth:',
      );
    case 'world':
      if (id !== 'anyone') throw configError(path, `the world scheme has one id, "anyone", not "${id}"`);
      return { scheme, id };
    case 'auth':
      // ZooKeeper replaces it by every id the creating session authenticated as.
      return { scheme, id: '' };
    case 'digest': {
      const colon = id.indexOf(':');
      const hash = colon > 0 ? id.slice(colon + 1) : '';
      if (!DIGEST_HASH.test(hash)) {
        throw configError(
          path,
          'a digest principal is digest:<user>:<hash>, where <hash> is the base64 SHA-1 of "user:password" (28 characters), not the password',
          'compute it with: printf %s "user:password" | openssl dgst -binary -sha1 | base64',
        );
      }
      return { scheme, id };
    }
    case 'ip':
      if (!/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(id)) throw configError(path, `"${id}" is not an IP address or address/bits`);
      return { scheme, id };
    default:
      // sasl, or a scheme of a custom AuthenticationProvider; the server answers INVALIDACL to one it lacks.
      return { scheme, id };
  }
}

function parsePerms(value: unknown, path: string): number {
  const names = Object.keys(ACL_PERMISSIONS).join(', ');
  if (!Array.isArray(value)) throw configError(path, `expected a list of ${names}`);
  if (value.length === 0) throw configError(path, `lists no permission: expected one or more of ${names}`);
  let perms = 0;
  for (const p of value) {
    const bit = typeof p === 'string' ? ACL_PERMISSIONS[p.toUpperCase()] : undefined;
    if (bit === undefined) throw configError(path, `${JSON.stringify(p)} is not a permission: expected a list of ${names}`);
    perms |= bit;
  }
  return perms;
}

/** What the driver does on its own znodes: read, set, create children, delete children. */
const NEEDED_PERMS: Array<[number, string]> = [[PERM.read, 'READ'], [PERM.write, 'WRITE'], [PERM.create, 'CREATE'], [PERM.delete, 'DELETE']];

/**
 * `set_acls` as Patroni 4.1 reads it (a principal without `scheme:` is x509; the scheme prefix
 * is Patroni's since #3479), and checked against pgha's own access: an ACL that does not let
 * pgha's session read, write, create and delete would lock it out of the znodes it just made.
 */
function parseAcls(value: unknown, auth: Array<[string, string]>, logger: Logger): AclEntry[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) throw configError('set_acls', 'expected a mapping of principal to a list of permissions');
  const acl: AclEntry[] = [];
  for (const [principal, perms] of Object.entries(value)) {
    const path = `set_acls.${principal}`;
    const bits = parsePerms(perms, path);
    acl.push({ ...parsePrincipal(principal, path), perms: bits });
  }
  if (acl.length === 0) return acl;

  const digests = new Set(auth.filter(([scheme]) => scheme === 'digest').map(([, credential]) => digestId(credential)));
  const authKey = Object.keys(value).find((k) => /^auth:/i.test(k));
  if (authKey !== undefined && auth.length === 0) {
    throw configError(`set_acls.${authKey}`, 'the auth scheme grants the ids the session authenticated as, and auth_data gives none', 'add auth_data, e.g. {digest: "user:password"}');
  }
  let granted = 0;
  for (const a of acl) {
    if ((a.scheme === 'world' && a.id === 'anyone') || a.scheme === 'auth' || (a.scheme === 'digest' && digests.has(a.id))) granted |= a.perms;
  }
  const missing = NEEDED_PERMS.filter(([bit]) => (granted & bit) === 0).map(([, name]) => name);
  if (missing.length > 0) {
    const who = digests.size > 0 ? `the digest user${digests.size > 1 ? 's' : ''} of auth_data (${[...digests].map((d) => d.slice(0, d.indexOf(':'))).join(', ')})` : 'an unauthenticated session (no digest in auth_data)';
    // ip entries (and custom schemes) may grant pgha what it needs: that is only known at the server.
    const unknowable = acl.filter((a) => a.scheme !== 'world' && a.scheme !== 'auth' && a.scheme !== 'digest' && a.scheme !== 'sasl');
    const message = `no entry grants pgha, as ${who}, ${missing.join(', ')}: pgha needs READ, WRITE, CREATE and DELETE on the znodes it creates`;
    if (unknowable.length === 0) {
      throw configError('set_acls', message, 'add auth_data for a digest principal of set_acls, or grant those permissions to it (a digest id is user:base64(sha1("user:password")))');
    }
    logger.warn({ key: 'zookeeper.set_acls', relyingOn: unknowable.map((a) => `${a.scheme}:${a.id}`) }, `${message}, unless the entries it relies on match it`);
  }
  return acl;
}

/**
 * Validates the `zookeeper:` section. Throws `DCS_CONFIG` for what cannot work (a missing or
 * malformed `hosts`, `use_ssl: true`, x509 ACLs, an ACL that would lock pgha out); warns about
 * keys it ignores.
 */
export function parseZooKeeperSection(section: Record<string, unknown>, logger: Logger): ZooKeeperSettings {
  if (!isRecord(section)) throw configError('', 'the section must be a mapping');
  const { hosts, chroot } = parseHosts(section.hosts);

  // The npm `zookeeper` addon cannot open a TLS connection (NO_TLS), so a TLS setting must stop
  // the agent rather than silently go plain.
  const useSsl = optionalBoolean(section, 'use_ssl');
  for (const key of TLS_KEYS) {
    if (key === 'verify') optionalBoolean(section, key);
    else if (section[key] !== undefined && section[key] !== null && typeof section[key] !== 'string') {
      throw configError(key, `expected a string, got ${typeof section[key]}`);
    }
  }
  if (useSsl) {
    throw configError(
      'use_ssl',
      `TLS is not supported: ${NO_TLS}`,
      'set use_ssl: false and reach ZooKeeper over a trusted network or a TLS tunnel (stunnel, ghostunnel), or use the etcd3 DCS',
    );
  }
  const ignoredTls = TLS_KEYS.filter((k) => section[k] !== undefined && section[k] !== null);
  if (ignoredTls.length > 0) {
    logger.warn({ keys: ignoredTls.map((k) => `zookeeper.${k}`) }, 'TLS settings are ignored: use_ssl is not set');
  }

  const auth = parseAuthData(section.auth_data);
  const acl = parseAcls(section.set_acls, auth, logger);

  const unknown = Object.keys(section).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) logger.warn({ keys: unknown.map((k) => `zookeeper.${k}`) }, 'unknown keys in the zookeeper section are ignored');

  return { hosts, chroot, connectString: hosts.join(',') + chroot, auth, acl };
}
