/**
 * The `zookeeper:` section of a Patroni YAML file, validated. Keys: `hosts` (list or comma string
 * of `host[:port]`, optionally ending in a chroot), `use_ssl`, `cacert`, `cert`, `key`,
 * `key_password`, `verify`, `set_acls`, `auth_data`. Errors are `DCS_CONFIG` naming the key path.
 */
import { DcsError, DcsErrorCode, type Logger } from '@pgha/dcs';

export interface ZooKeeperSettings {
  /** `host:port` entries, in the order given. */
  hosts: string[];
  /** Optional chroot suffix of the connect string (`/path`), or ''. */
  chroot: string;
  /** What the native client gets: `h1:p1,h2:p2[/chroot]`. */
  connectString: string;
  /** Credentials added to the session after connecting, as [scheme, credential]. */
  auth: Array<[string, string]>;
}

const DEFAULT_PORT = 2181;
const KNOWN_KEYS = new Set(['hosts', 'use_ssl', 'cacert', 'cert', 'key', 'key_password', 'verify', 'set_acls', 'auth_data']);
const TLS_KEYS = ['cacert', 'cert', 'key', 'key_password', 'verify'] as const;
const ACL_PERMISSIONS = new Set(['CREATE', 'READ', 'WRITE', 'DELETE', 'ADMIN', 'ALL']);

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
  if (typeof v === 'string' && /^(true|false|on|off|yes|no)$/i.test(v)) return /^(true|on|yes)$/i.test(v);
  throw configError(key, `expected true or false, got ${JSON.stringify(v)}`);
}

/**
 * Validates the `zookeeper:` section. Throws `DCS_CONFIG` for what cannot work (a missing or
 * malformed `hosts`, `use_ssl: true`, ACLs); warns about keys it ignores.
 */
export function parseZooKeeperSection(section: Record<string, unknown>, logger: Logger): ZooKeeperSettings {
  if (!isRecord(section)) throw configError('', 'the section must be a mapping');
  const { hosts, chroot } = parseHosts(section.hosts);

  // The npm `zookeeper` client wraps the ZooKeeper C client built without OpenSSL: it cannot open
  // a TLS connection at all, so a TLS setting must stop the agent rather than silently go plain.
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
      'TLS is not supported: the native ZooKeeper client pgha uses (npm "zookeeper", C client built without OpenSSL) cannot open TLS connections',
      'set use_ssl: false and reach ZooKeeper over a trusted network or a TLS tunnel (stunnel, ghostunnel), or use the etcd3 DCS',
    );
  }
  const ignoredTls = TLS_KEYS.filter((k) => section[k] !== undefined && section[k] !== null);
  if (ignoredTls.length > 0) {
    logger.warn({ keys: ignoredTls.map((k) => `zookeeper.${k}`) }, 'TLS settings are ignored: use_ssl is not set');
  }

  if (section.set_acls !== undefined && section.set_acls !== null) {
    const acls = section.set_acls;
    if (!isRecord(acls)) throw configError('set_acls', 'expected a mapping of principal to a list of permissions');
    for (const [principal, perms] of Object.entries(acls)) {
      if (!Array.isArray(perms) || perms.some((p) => typeof p !== 'string' || !ACL_PERMISSIONS.has(p.toUpperCase()))) {
        throw configError(`set_acls.${principal}`, `expected a list of ${[...ACL_PERMISSIONS].join(', ')}`);
      }
    }
    if (Object.keys(acls).length > 0) {
      // Patroni applies these as x509 ACLs, which only a TLS client certificate can satisfy; the
      // native client has no TLS and creates every znode world-open, so they cannot be honoured.
      throw configError(
        'set_acls',
        'x509 ACLs need TLS client certificates, which the native ZooKeeper client cannot present',
        'remove set_acls, or use the etcd3 DCS if the cluster keys must be access-controlled',
      );
    }
  }

  const auth: Array<[string, string]> = [];
  if (section.auth_data !== undefined && section.auth_data !== null) {
    const data = section.auth_data;
    if (!isRecord(data)) throw configError('auth_data', 'expected a mapping of scheme to credential, e.g. {digest: "user:password"}');
    for (const [scheme, credential] of Object.entries(data)) {
      if (typeof credential !== 'string' || credential === '') {
        throw configError(`auth_data.${scheme}`, 'expected a non-empty credential string');
      }
      auth.push([scheme, credential]);
    }
  }

  const unknown = Object.keys(section).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) logger.warn({ keys: unknown.map((k) => `zookeeper.${k}`) }, 'unknown keys in the zookeeper section are ignored');

  return { hosts, chroot, connectString: hosts.join(',') + chroot, auth };
}
