/**
 * `PATRONI_*` environment variables, applied over the YAML as Patroni documents them, and the
 * `PGHA_*` spelling of each (which wins when both are set). Values that Patroni reads as lists or
 * maps are parsed as YAML flow syntax (`'h1:2379','h2:2379'` or `{a: 1}`).
 *
 * `PATRONI_CONFIGURATION` (or `PGHA_CONFIGURATION`) holds a whole YAML document; when it is set
 * it replaces the file and every other variable is ignored, as in Patroni.
 */
import { parse as parseYaml } from 'yaml';
import { PghaError, parseBool } from '@pgha/dcs';

type Env = Record<string, string | undefined>;
type Tree = Record<string, unknown>;

/** Where one variable lands in the config tree, and how its text becomes a value. */
interface Placement {
  path: string[];
  kind: 'string' | 'list' | 'map' | 'boolean' | 'number';
}

const PREFIXES = ['PATRONI_', 'PGHA_'] as const;

/** Scalars of the top level and of `log`, `restapi`, `ctl`, `postgresql`. */
const FIXED: Record<string, Placement> = {
  NAME: { path: ['name'], kind: 'string' },
  NAMESPACE: { path: ['namespace'], kind: 'string' },
  SCOPE: { path: ['scope'], kind: 'string' },

  LOG_TYPE: { path: ['log', 'type'], kind: 'string' },
  LOG_LEVEL: { path: ['log', 'level'], kind: 'string' },
  LOG_TRACEBACK_LEVEL: { path: ['log', 'traceback_level'], kind: 'string' },
  LOG_FORMAT: { path: ['log', 'format'], kind: 'string' },
  LOG_DATEFORMAT: { path: ['log', 'dateformat'], kind: 'string' },
  LOG_STATIC_FIELDS: { path: ['log', 'static_fields'], kind: 'map' },
  LOG_MAX_QUEUE_SIZE: { path: ['log', 'max_queue_size'], kind: 'number' },
  LOG_DIR: { path: ['log', 'dir'], kind: 'string' },
  LOG_MODE: { path: ['log', 'mode'], kind: 'number' },
  LOG_FILE_NUM: { path: ['log', 'file_num'], kind: 'number' },
  LOG_FILE_SIZE: { path: ['log', 'file_size'], kind: 'number' },
  LOG_LOGGERS: { path: ['log', 'loggers'], kind: 'map' },
  // The spellings of Patroni ≤ 1.x that the seed manual documents.
  LOGLEVEL: { path: ['log', 'level'], kind: 'string' },
  LOGFORMAT: { path: ['log', 'format'], kind: 'string' },
  REQUESTS_LOGLEVEL: { path: ['log', 'loggers', 'requests'], kind: 'string' },

  RESTAPI_LISTEN: { path: ['restapi', 'listen'], kind: 'string' },
  RESTAPI_CONNECT_ADDRESS: { path: ['restapi', 'connect_address'], kind: 'string' },
  RESTAPI_USERNAME: { path: ['restapi', 'authentication', 'username'], kind: 'string' },
  RESTAPI_PASSWORD: { path: ['restapi', 'authentication', 'password'], kind: 'string' },
  RESTAPI_CERTFILE: { path: ['restapi', 'certfile'], kind: 'string' },
  RESTAPI_KEYFILE: { path: ['restapi', 'keyfile'], kind: 'string' },
  RESTAPI_KEYFILE_PASSWORD: { path: ['restapi', 'keyfile_password'], kind: 'string' },
  RESTAPI_CAFILE: { path: ['restapi', 'cafile'], kind: 'string' },
  RESTAPI_CIPHERS: { path: ['restapi', 'ciphers'], kind: 'string' },
  RESTAPI_VERIFY_CLIENT: { path: ['restapi', 'verify_client'], kind: 'string' },
  RESTAPI_ALLOWLIST: { path: ['restapi', 'allowlist'], kind: 'list' },
  RESTAPI_ALLOWLIST_INCLUDE_MEMBERS: { path: ['restapi', 'allowlist_include_members'], kind: 'boolean' },
  RESTAPI_HTTP_EXTRA_HEADERS: { path: ['restapi', 'http_extra_headers'], kind: 'map' },
  RESTAPI_HTTPS_EXTRA_HEADERS: { path: ['restapi', 'https_extra_headers'], kind: 'map' },
  RESTAPI_REQUEST_QUEUE_SIZE: { path: ['restapi', 'request_queue_size'], kind: 'number' },
  RESTAPI_SERVER_TOKENS: { path: ['restapi', 'server_tokens'], kind: 'string' },
  RESTAPI_DECISIONS_HISTORY: { path: ['restapi', 'decisions_history'], kind: 'number' },

  CTL_USERNAME: { path: ['ctl', 'authentication', 'username'], kind: 'string' },
  CTL_PASSWORD: { path: ['ctl', 'authentication', 'password'], kind: 'string' },
  CTL_INSECURE: { path: ['ctl', 'insecure'], kind: 'boolean' },
  CTL_CACERT: { path: ['ctl', 'cacert'], kind: 'string' },
  CTL_CERTFILE: { path: ['ctl', 'certfile'], kind: 'string' },
  CTL_KEYFILE: { path: ['ctl', 'keyfile'], kind: 'string' },
  CTL_KEYFILE_PASSWORD: { path: ['ctl', 'keyfile_password'], kind: 'string' },

  POSTGRESQL_LISTEN: { path: ['postgresql', 'listen'], kind: 'string' },
  POSTGRESQL_CONNECT_ADDRESS: { path: ['postgresql', 'connect_address'], kind: 'string' },
  POSTGRESQL_PROXY_ADDRESS: { path: ['postgresql', 'proxy_address'], kind: 'string' },
  POSTGRESQL_DATA_DIR: { path: ['postgresql', 'data_dir'], kind: 'string' },
  POSTGRESQL_CONFIG_DIR: { path: ['postgresql', 'config_dir'], kind: 'string' },
  POSTGRESQL_BIN_DIR: { path: ['postgresql', 'bin_dir'], kind: 'string' },
  POSTGRESQL_PGPASS: { path: ['postgresql', 'pgpass'], kind: 'string' },
};

/** `PATRONI_<ROLE>_<OPTION>` for postgresql.authentication. */
const AUTH_ROLES = ['SUPERUSER', 'REPLICATION', 'REWIND'];
const AUTH_OPTIONS = [
  'USERNAME', 'PASSWORD', 'SSLMODE', 'SSLKEY', 'SSLPASSWORD', 'SSLCERT', 'SSLROOTCERT', 'SSLCRL', 'SSLCRLDIR',
  'SSLNEGOTIATION', 'GSSENCMODE', 'CHANNEL_BINDING',
];

/** `PATRONI_<DCS>_<OPTION>` for the DCS sections pgha drives. */
const DCS_OPTIONS: Record<string, Record<string, Placement['kind']>> = {
  ETCD3: {
    HOST: 'string', HOSTS: 'list', PORT: 'number', URL: 'string', PROXY: 'string', SRV: 'string', SRV_SUFFIX: 'string',
    PROTOCOL: 'string', USE_PROXIES: 'boolean', USERNAME: 'string', PASSWORD: 'string', CACERT: 'string', CERT: 'string', KEY: 'string',
  },
  ZOOKEEPER: {
    HOSTS: 'list', USE_SSL: 'boolean', CACERT: 'string', CERT: 'string', KEY: 'string', KEY_PASSWORD: 'string',
    VERIFY: 'boolean', SET_ACLS: 'map', AUTH_DATA: 'map',
  },
};

function placementOf(suffix: string): Placement | undefined {
  const fixed = FIXED[suffix];
  if (fixed) return fixed;
  for (const role of AUTH_ROLES) {
    for (const option of AUTH_OPTIONS) {
      if (suffix === `${role}_${option}`) {
        return { path: ['postgresql', 'authentication', role.toLowerCase(), option.toLowerCase()], kind: 'string' };
      }
    }
  }
  for (const [dcs, options] of Object.entries(DCS_OPTIONS)) {
    for (const [option, kind] of Object.entries(options)) {
      if (suffix === `${dcs}_${option}`) return { path: [dcs.toLowerCase(), option.toLowerCase()], kind };
    }
  }
  // PATRONI_POSTGRESQL_BIN_<NAME>: a binary name override (postgresql.bin_name.<name>).
  const bin = /^POSTGRESQL_BIN_([A-Z_]+)$/.exec(suffix);
  if (bin && bin[1] !== 'DIR') return { path: ['postgresql', 'bin_name', bin[1]!.toLowerCase()], kind: 'string' };
  return undefined;
}

/** Thrown for a variable whose value cannot be parsed; names the variable. */
export class EnvironmentError extends PghaError<'CONFIG_ENV'> {
  constructor(message: string) {
    super('CONFIG_ENV', message);
    this.name = 'EnvironmentError';
  }
}

function convert(variable: string, text: string, kind: Placement['kind']): unknown {
  switch (kind) {
    case 'string':
      return text;
    case 'number': {
      const n = Number(text);
      if (!Number.isFinite(n)) throw new EnvironmentError(`${variable}: expected a number, got ${JSON.stringify(text)}`);
      return n;
    }
    case 'boolean': {
      const flag = parseBool(text.trim());
      if (flag !== null) return flag;
      throw new EnvironmentError(`${variable}: expected true or false, got ${JSON.stringify(text)}`);
    }
    case 'list':
    case 'map': {
      const trimmed = text.trim();
      const open = kind === 'list' ? '[' : '{';
      const close = kind === 'list' ? ']' : '}';
      const source = trimmed.startsWith(open) ? trimmed : `${open}${trimmed}${close}`;
      let value: unknown;
      try {
        value = parseYaml(source, { version: '1.1' }); // PyYAML's reading, as Patroni's
      } catch (e) {
        throw new EnvironmentError(`${variable}: not valid YAML flow syntax (${(e as Error).message.split('\n')[0]})`);
      }
      const ok = kind === 'list' ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value);
      if (!ok) throw new EnvironmentError(`${variable}: expected a ${kind}, got ${JSON.stringify(text)}`);
      return value;
    }
  }
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

/**
 * Takes the variables pgha reads out of `env` and returns them (Patroni's `_popenv`): they may
 * hold passwords (`PATRONI_SUPERUSER_PASSWORD`, `PATRONI_RESTAPI_PASSWORD`, a whole
 * `PATRONI_CONFIGURATION`), and PostgreSQL, its archive and restore commands and every callback
 * the agent starts would otherwise inherit them — readable by a role with `pg_read_server_files`
 * in `/proc/<pid>/environ`. The agent keeps the returned copy for reloads. Other `PATRONI_*`
 * variables (ones pgha does not read) are left alone.
 */
export function takeEnvironment(env: Env): Env {
  const taken: Env = {};
  for (const [variable, text] of Object.entries(env)) {
    const prefix = PREFIXES.find((p) => variable.startsWith(p));
    if (prefix === undefined || text === undefined) continue;
    if (variable !== `${prefix}CONFIGURATION` && !placementOf(variable.slice(prefix.length))) continue;
    taken[variable] = text;
    delete env[variable];
  }
  return taken;
}

/** The whole-document variable, when set (`PGHA_CONFIGURATION` wins). */
export function configurationFromEnvironment(env: Env): string | undefined {
  return env.PGHA_CONFIGURATION ?? env.PATRONI_CONFIGURATION;
}

/**
 * Returns a copy of `config` with the environment's overrides applied, and the names of the
 * variables used (values are not returned: they may be passwords). Unknown `PATRONI_*` names are
 * left alone (Patroni's own tools set some).
 */
export function applyEnvironment(config: Tree, env: Env): { config: Tree; applied: string[] } {
  const result = structuredClone(config);
  const applied: string[] = [];
  // PATRONI_ first, then PGHA_, so the pgha spelling wins.
  for (const prefix of PREFIXES) {
    for (const [variable, text] of Object.entries(env)) {
      if (!variable.startsWith(prefix) || text === undefined || variable.endsWith('_CONFIGURATION')) continue;
      const placement = placementOf(variable.slice(prefix.length));
      if (!placement) continue;
      setPath(result, placement.path, convert(variable, text, placement.kind));
      applied.push(variable);
    }
  }
  return { config: result, applied };
}
