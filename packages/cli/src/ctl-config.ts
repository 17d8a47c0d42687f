/**
 * Where pghactl finds its settings, as patronictl does: `-c/--config-file` (an agent's YAML or a
 * small ctl file), else `$PGHACTL_CONFIG_FILE` / `$PATRONICTL_CONFIG_FILE`, else
 * `~/.config/pgha/pghactl.yaml` (falling back to patronictl's `~/.config/patroni/patronictl.yaml`
 * so an existing setup keeps working). `-d/--dcs-url` replaces the file's DCS section. A few
 * `PATRONI_*` environment variables override the file, as they do for Patroni.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isTrue } from '@pgha/dcs';
import { restClientTls, type RestClientTls } from '@pgha/ha-engine';
import { CliError, CliErrorCode } from './errors.js';

export interface BasicAuth {
  username: string;
  password: string;
}

export interface CtlConfig {
  /** The whole configuration (DCS section included), as the DCS loader expects it. */
  raw: Record<string, unknown>;
  /** The file read, or null when none was. */
  path: string | null;
  /** Directory relative driver paths are resolved from. */
  base: string;
  scope: string | undefined;
  namespace: string;
  /** Basic auth for members' REST APIs: `ctl.authentication`, else `restapi.authentication`. */
  auth: BasicAuth | undefined;
  /** `-k/--insecure` or `ctl.insecure`: do not verify the REST API's TLS certificate. */
  insecure: boolean;
  /**
   * TLS towards members' https APIs (ha-engine `restClientTls`): `ctl.certfile` / `keyfile` /
   * `keyfile_password` presented, `ctl.cacert` (else `restapi.cafile`) trusted.
   */
  tls: RestClientTls;
  /** Deadline of one DCS call, seconds (`retry_timeout`, default 10). */
  dcsTimeout: number;
}

export interface LoadCtlConfigOptions {
  configFile?: string | undefined;
  dcsUrl?: string | undefined;
  insecure?: boolean;
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

/** Sections that name a DCS and are replaced by `--dcs-url`. */
const DCS_SECTIONS = ['etcd', 'etcd3', 'zookeeper', 'consul', 'kubernetes', 'raft', 'exhibitor'];
const DCS_DEFAULT_PORTS: Record<string, number> = { etcd3: 2379, etcd: 2379, zookeeper: 2181, consul: 8500 };

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `etcd3://h1:2379,h2:2379/namespace` → the DCS section and the namespace, if given. */
export function parseDcsUrl(url: string): { section: string; settings: Record<string, unknown>; namespace?: string } {
  const m = /^(?:([a-z0-9]+):\/\/)?(?:\/\/)?([^/]*)(\/.*)?$/i.exec(url.trim());
  if (!m) throw new CliError(CliErrorCode.Config, `--dcs-url: cannot parse '${url}' (expected etcd3://host:port or zookeeper://host:port)`);
  const hostList = (m[2] ?? '').split(',').filter((h) => h !== '');
  const ports = hostList.map((h) => Number(/:(\d+)$/.exec(h)?.[1]));
  let scheme = m[1]?.toLowerCase();
  if (scheme === undefined) scheme = Object.keys(DCS_DEFAULT_PORTS).find((s) => DCS_DEFAULT_PORTS[s] === ports[0]) ?? 'etcd3';
  if (!(scheme in DCS_DEFAULT_PORTS)) throw new CliError(CliErrorCode.Config, `Unknown dcs scheme: ${scheme} (in --dcs-url ${url}; use etcd3:// or zookeeper://)`);
  const port = DCS_DEFAULT_PORTS[scheme]!;
  const hosts = (hostList.length > 0 ? hostList : ['localhost']).map((h) => (/:\d+$/.test(h) ? h : `${h}:${port}`));
  const namespace = m[3] && m[3] !== '/' ? m[3] : undefined;
  return { section: scheme, settings: { hosts }, ...(namespace ? { namespace } : {}) };
}

function authOf(section: unknown): BasicAuth | undefined {
  if (!isMap(section) || !isMap(section.authentication)) return undefined;
  const { username, password } = section.authentication;
  if (username === undefined || username === null) return undefined;
  return { username: String(username), password: password === undefined || password === null ? '' : String(password) };
}

function defaultPath(env: LoadCtlConfigOptions['env']): { path: string; explicit: boolean } {
  const fromEnv = env.PGHACTL_CONFIG_FILE ?? env.PATRONICTL_CONFIG_FILE;
  if (fromEnv) return { path: fromEnv, explicit: true };
  const home = env.HOME ?? homedir();
  const own = join(home, '.config', 'pgha', 'pghactl.yaml');
  const patroni = join(home, '.config', 'patroni', 'patronictl.yaml');
  return { path: existsSync(own) || !existsSync(patroni) ? own : patroni, explicit: false };
}

/** `PATRONI_CTL_<KEY>` / `PATRONI_RESTAPI_<KEY>` for the TLS settings, as Patroni reads them. */
const TLS_ENV: ReadonlyArray<readonly [string, string]> = [
  ['ctl', 'insecure'],
  ['ctl', 'cacert'],
  ['ctl', 'certfile'],
  ['ctl', 'keyfile'],
  ['ctl', 'keyfile_password'],
  ['restapi', 'cafile'],
  ['restapi', 'certfile'],
  ['restapi', 'keyfile'],
  ['restapi', 'keyfile_password'],
  ['restapi', 'verify_client'],
];

/** YAML `on`/`yes`/`true` or their environment spellings (blanks allowed); anything else is false. */
function truthy(v: unknown): boolean {
  return isTrue(typeof v === 'string' ? v.trim() : v);
}

/** The string keys of `section`; file paths made absolute from `cwd`, as Python opens them. */
function stringsOf(section: unknown, keys: readonly string[], cwd: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isMap(section)) return out;
  for (const k of keys) {
    const v = section[k];
    if (typeof v === 'string' && v !== '') out[k] = k.endsWith('file') || k === 'cacert' ? resolve(cwd, v) : v;
  }
  return out;
}

function applyEnv(raw: Record<string, unknown>, env: LoadCtlConfigOptions['env']): void {
  for (const [section, key] of TLS_ENV) {
    const value = env[`PATRONI_${section.toUpperCase()}_${key.toUpperCase()}`];
    if (value) raw[section] = { ...(isMap(raw[section]) ? raw[section] : {}), [key]: value };
  }
  if (env.PATRONI_SCOPE) raw.scope = env.PATRONI_SCOPE;
  if (env.PATRONI_NAMESPACE) raw.namespace = env.PATRONI_NAMESPACE;
  for (const [section, name] of [['etcd3', 'ETCD3'], ['zookeeper', 'ZOOKEEPER']] as const) {
    const hosts = env[`PATRONI_${name}_HOSTS`];
    if (hosts) raw[section] = { ...(isMap(raw[section]) ? raw[section] : {}), hosts };
  }
  for (const [section, name] of [['restapi', 'RESTAPI'], ['ctl', 'CTL']] as const) {
    const username = env[`PATRONI_${name}_USERNAME`];
    if (username) {
      const current = isMap(raw[section]) ? raw[section] : {};
      raw[section] = { ...current, authentication: { username, password: env[`PATRONI_${name}_PASSWORD`] ?? '' } };
    }
  }
}

export function loadCtlConfig(options: LoadCtlConfigOptions): CtlConfig {
  const { env } = options;
  const cwd = options.cwd ?? process.cwd();
  const chosen = options.configFile !== undefined ? { path: options.configFile, explicit: true } : defaultPath(env);
  const path = resolve(cwd, chosen.path);
  let raw: Record<string, unknown> = {};
  let loaded: string | null = null;
  if (existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new CliError(CliErrorCode.Config, `Provided config file ${path} not existing or no read rights. Check the -c/--config-file parameter (${(e as Error).message})`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (e) {
      throw new CliError(CliErrorCode.Config, `Config file ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (parsed !== null && parsed !== undefined && !isMap(parsed)) {
      throw new CliError(CliErrorCode.Config, `Config file ${path}: expected a YAML map at the top level`);
    }
    raw = { ...(parsed ?? {}) };
    loaded = path;
  } else if (chosen.explicit) {
    throw new CliError(CliErrorCode.Config, `Provided config file ${path} not existing or no read rights. Check the -c/--config-file parameter`);
  }
  applyEnv(raw, env);

  const dcsUrl = options.dcsUrl ?? env.DCS_URL;
  if (dcsUrl) {
    const parsed = parseDcsUrl(dcsUrl);
    for (const s of DCS_SECTIONS) delete raw[s];
    raw[parsed.section] = parsed.settings;
    if (parsed.namespace) raw.namespace = parsed.namespace;
  }
  const ctl = isMap(raw.ctl) ? raw.ctl : {};
  const retry = Number(raw.retry_timeout);
  const insecure = options.insecure === true || truthy(ctl.insecure);
  const tls = restClientTls({
    client: 'ctl',
    insecure,
    ctl: stringsOf(ctl, ['cacert', 'certfile', 'keyfile', 'keyfile_password'], cwd),
    restapi: stringsOf(raw.restapi, ['cafile', 'certfile', 'keyfile', 'keyfile_password', 'verify_client'], cwd),
  });
  return {
    raw,
    path: loaded,
    base: loaded ? dirname(loaded) : cwd,
    scope: typeof raw.scope === 'string' || typeof raw.scope === 'number' ? String(raw.scope) : undefined,
    namespace: typeof raw.namespace === 'string' ? raw.namespace : '/service',
    auth: authOf(ctl) ?? authOf(raw.restapi),
    insecure,
    tls,
    dcsTimeout: Number.isFinite(retry) && retry > 0 ? retry : 10,
  };
}
