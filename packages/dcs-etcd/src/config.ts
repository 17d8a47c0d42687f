/**
 * The `etcd3:` section of a Patroni YAML file, as pgha reads it. Same keys and precedence as
 * Patroni: `url` (or `urls`) wins over `hosts`, which wins over `host`; `port` is the default port
 * of `hosts` entries without one; `protocol` (http | https) applies to `host` / `hosts`.
 */
import { readFile } from 'node:fs/promises';
import { DcsError } from '@pgha/dcs';
import { z } from 'zod';

export const DEFAULT_ETCD_PORT = 2379;

const SECTION = 'etcd3';

const stringList = z.union([z.string(), z.array(z.string())]);
const scalar = z.union([z.string(), z.number()]).transform(String);

/**
 * The shape of the section. Unknown keys are kept (and reported as warnings by
 * `parseEtcdSection`), because Patroni ignores keys it does not know.
 */
export const etcd3SectionSchema = z.looseObject({
  host: z.string().optional(),
  hosts: stringList.optional(),
  port: z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d+$/)]).optional(),
  url: z.string().optional(),
  urls: stringList.optional(),
  protocol: z.enum(['http', 'https']).optional(),
  username: scalar.optional(),
  password: scalar.optional(),
  cacert: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  /**
   * Patroni: treat `hosts` as proxies and never ask etcd for its members' addresses. pgha never
   * asks (it talks to the listed endpoints only), so either value means what `true` means to
   * Patroni, and a Patroni YAML that sets it runs unchanged.
   */
  use_proxies: z.boolean().optional(),
});

/** Keys that select a way of finding etcd that pgha does not implement. */
const UNSUPPORTED: Record<string, string> = {
  srv: 'DNS SRV discovery is not supported; list the client endpoints in etcd3.hosts',
  srv_suffix: 'DNS SRV discovery is not supported; list the client endpoints in etcd3.hosts',
  discovery_srv: 'DNS SRV discovery is not supported; list the client endpoints in etcd3.hosts',
  srv_domain: 'DNS SRV discovery is not supported; list the client endpoints in etcd3.hosts',
  proxy: 'etcd proxies are not supported; list the client endpoints in etcd3.hosts',
};

const KNOWN = new Set(Object.keys(etcd3SectionSchema.shape));

/** The validated section: where etcd is and how to authenticate, before any file is read. */
export interface EtcdSettings {
  /** `http(s)://host:port`, one per etcd member, in configured order. */
  endpoints: string[];
  tls: boolean;
  auth?: { username: string; password: string };
  /** PEM file paths. */
  cacert?: string;
  cert?: string;
  key?: string;
  /** Things worth a log line (unknown keys, ignored settings). */
  warnings: string[];
}

/** What the etcd3 client needs, with the PEM files loaded. */
export interface EtcdConnection {
  endpoints: string[];
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  auth?: { username: string; password: string };
}

function configError(path: string, message: string): DcsError {
  return new DcsError('DCS_CONFIG', `${path}: ${message}`);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), SECTION);
}

/**
 * Validates the section. Pure (reads no files). Throws `DcsError` `DCS_CONFIG` naming the
 * offending key, e.g. `etcd3.hosts[1]: ...`.
 */
export function parseEtcdSection(section: Record<string, unknown>): EtcdSettings {
  for (const [key, why] of Object.entries(UNSUPPORTED)) {
    if (section[key] !== undefined && section[key] !== null) throw configError(`${SECTION}.${key}`, why);
  }
  const parsed = etcd3SectionSchema.safeParse(section);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw configError(formatPath(issue.path), issue.message);
  }
  const c = parsed.data;
  const warnings = Object.keys(section)
    .filter((k) => !KNOWN.has(k))
    .map((k) => `${SECTION}.${k}: unknown key, ignored`);

  const defaultPort = c.port === undefined ? DEFAULT_ETCD_PORT : Number(c.port);
  const protocol = c.protocol ?? 'http';
  let endpoints: string[];
  let urlAuth: { username: string; password: string } | undefined;
  if (c.url !== undefined || c.urls !== undefined) {
    const key = c.url !== undefined ? 'url' : 'urls';
    const list = c.url !== undefined ? [c.url] : splitList(c.urls!);
    endpoints = list.map((u, i) => {
      const parsedUrl = parseEndpointUrl(u, c.url !== undefined ? `${SECTION}.url` : `${SECTION}.urls[${i}]`);
      urlAuth ??= parsedUrl.auth;
      return parsedUrl.endpoint;
    });
    if (endpoints.length === 0) throw configError(`${SECTION}.${key}`, 'no endpoint given');
  } else if (c.hosts !== undefined) {
    const list = splitList(c.hosts);
    if (list.length === 0) throw configError(`${SECTION}.hosts`, 'no endpoint given');
    endpoints = list.map((h, i) => {
      const path = `${SECTION}.hosts[${i}]`;
      return /^[a-z]+:\/\//i.test(h) ? parseEndpointUrl(h, path).endpoint : hostPortEndpoint(protocol, h, defaultPort, path);
    });
  } else if (c.host !== undefined) {
    endpoints = [hostPortEndpoint(protocol, c.host.trim(), defaultPort, `${SECTION}.host`)];
  } else {
    throw configError(SECTION, 'one of host, hosts or url is required (the etcd client endpoints, e.g. hosts: 10.0.0.1:2379,10.0.0.2:2379)');
  }

  const secure = endpoints.filter((e) => e.startsWith('https://')).length;
  if (secure !== 0 && secure !== endpoints.length) {
    throw configError(`${SECTION}.${c.url !== undefined ? 'url' : c.urls !== undefined ? 'urls' : 'hosts'}`, 'mixes http and https endpoints');
  }
  const tls = secure > 0;
  if (!tls && (c.cacert !== undefined || c.cert !== undefined)) {
    warnings.push(`${SECTION}.cacert/cert: ignored because the endpoints use http (set etcd3.protocol: https)`);
  }
  if (c.key !== undefined && c.cert === undefined) throw configError(`${SECTION}.key`, 'given without etcd3.cert');

  let auth: EtcdSettings['auth'];
  if (c.username !== undefined || c.password !== undefined) {
    if (c.username === undefined) throw configError(`${SECTION}.username`, 'required when etcd3.password is set');
    auth = { username: c.username, password: c.password ?? '' };
  } else if (urlAuth) {
    auth = urlAuth;
  }

  return {
    endpoints,
    tls,
    ...(auth ? { auth } : {}),
    ...(tls && c.cacert !== undefined ? { cacert: c.cacert } : {}),
    ...(tls && c.cert !== undefined ? { cert: c.cert } : {}),
    ...(tls && c.key !== undefined ? { key: c.key } : {}),
    warnings,
  };
}

function splitList(value: string | string[]): string[] {
  const list = typeof value === 'string' ? value.split(',') : value;
  return list.map((s) => s.trim()).filter((s) => s !== '');
}

function hostPortEndpoint(protocol: string, value: string, defaultPort: number, path: string): string {
  // `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 address without brackets is ambiguous.
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+))(?::(\d+))?$/.exec(value);
  if (!m) throw configError(path, `"${value}" is not host:port`);
  const host = m[1] !== undefined ? `[${m[1]}]` : m[2]!;
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!(port >= 1 && port <= 65535)) throw configError(path, `port ${m[3]} is out of range`);
  return `${protocol}://${host}:${port}`;
}

function parseEndpointUrl(value: string, path: string): { endpoint: string; auth?: { username: string; password: string } } {
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    throw configError(path, `"${value}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError(path, `unsupported scheme ${u.protocol} (use http or https)`);
  if (u.pathname !== '/' && u.pathname !== '') throw configError(path, `a path (${u.pathname}) is not supported`);
  const endpoint = `${u.protocol}//${u.hostname}:${u.port === '' ? DEFAULT_ETCD_PORT : u.port}`;
  return u.username !== ''
    ? { endpoint, auth: { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } }
    : { endpoint };
}

/** Loads the PEM files named by the settings. Throws `DCS_CONFIG` naming the key and the path. */
export async function loadConnection(settings: EtcdSettings): Promise<EtcdConnection> {
  const read = async (key: 'cacert' | 'cert' | 'key'): Promise<Buffer | undefined> => {
    const file = settings[key];
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (e) {
      throw new DcsError('DCS_CONFIG', `${SECTION}.${key}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  const [ca, cert, key] = await Promise.all([read('cacert'), read('cert'), read('key')]);
  const connection: EtcdConnection = { endpoints: settings.endpoints };
  if (settings.auth) connection.auth = settings.auth;
  if (settings.tls && (ca || cert)) {
    let privateKey = key;
    // Patroni accepts a cert file that also holds the key; gRPC wants them apart.
    if (cert && !privateKey) {
      const m = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----\n?/.exec(cert.toString('utf8'));
      if (!m) throw configError(`${SECTION}.key`, `required: ${settings.cert} holds no private key`);
      privateKey = Buffer.from(m[0]);
    }
    // grpc-js wants a root certificate when a client cert is given; null means "system roots".
    connection.credentials = {
      rootCertificate: ca ?? (null as unknown as Buffer),
      ...(cert ? { certChain: cert, privateKey: privateKey! } : {}),
    };
  }
  return connection;
}
