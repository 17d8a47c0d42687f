/**
 * The DCS plugin loader: finds the DCS section of the agent's configuration and imports the
 * driver module for it.
 *
 * - `etcd3:` → `@pgha/dcs-etcd`, `zookeeper:` → `@pgha/dcs-zookeeper`;
 * - any top-level section with a `driver:` key → that module (an npm package name, a path
 *   relative to `base`, or a `file:` URL), which is how a third-party driver plugs in:
 *   `consul: { driver: pgha-dcs-consul, host: ... }`;
 * - Patroni's other stores (`etcd:` v2, `consul:`, `kubernetes:`, `raft:`, `exhibitor:`) without a
 *   `driver:` key are refused with advice on what to use instead.
 *
 * `@pgha/dcs` does not depend on any driver package, so it cannot import them from its own
 * location: the caller passes importers that resolve from where the drivers are installed
 * (the agent passes one bound to its own location), tried in order.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DriverFactory } from './driver.js';
import { DcsError, DcsErrorCode } from './errors.js';

/** Imports a module, as `(s) => import(s)` does from the importer's own location. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export interface LoadDriverOptions {
  /** The agent's whole configuration (the parsed YAML, environment overrides applied). */
  config: Record<string, unknown>;
  /**
   * Where a relative `driver:` path is resolved from: a directory path or a `file:` URL of a
   * directory, normally the configuration file's directory. Default: the working directory.
   */
  base?: string | URL;
  /** Tried in order until one imports the module. Default: `[(s) => import(s)]`. */
  importers?: readonly ModuleImporter[];
}

export interface LoadedDriver {
  /** The configuration section that chose the driver (`etcd3`, `zookeeper`, `consul`, ...). */
  section: string;
  /** That section's settings, without the `driver` key: pass as `DriverOptions.section`. */
  settings: Record<string, unknown>;
  /** The module specifier that was imported. */
  specifier: string;
  /** The module's `kind`, or the section name. */
  kind: string;
  createDriver: DriverFactory;
}

/** The drivers pgha ships, by the section name Patroni uses for that store. */
export const BUILTIN_DRIVERS: Readonly<Record<string, string>> = {
  etcd3: '@pgha/dcs-etcd',
  zookeeper: '@pgha/dcs-zookeeper',
};

/** Patroni's other stores, and what to use instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  etcd:
    "etcd's v2 API is not supported. etcd 3.4 and later serve the v3 API on the same endpoints: rename the section to `etcd3:` and keep its hosts.",
  consul: 'Use `etcd3:` or `zookeeper:`, or a Consul driver plugin (`consul: { driver: <package>, ... }`).',
  kubernetes: 'Use `etcd3:` or `zookeeper:`, or a Kubernetes driver plugin (`kubernetes: { driver: <package>, ... }`).',
  raft: "Patroni's built-in Raft store is deprecated and not supported. Use `etcd3:` or `zookeeper:`.",
  exhibitor:
    'Exhibitor fronts a ZooKeeper ensemble: list its ZooKeeper servers under `zookeeper: { hosts: [...] }` instead.',
};

/**
 * Top-level sections of a Patroni configuration that are not a DCS, although some have a
 * `driver` key of their own (`watchdog.driver` in Patroni's test harness).
 */
const NOT_DCS = new Set(['restapi', 'ctl', 'postgresql', 'bootstrap', 'watchdog', 'tags', 'log', 'citus']);

const defaultImporters: readonly ModuleImporter[] = [(specifier) => import(specifier)];

interface Candidate {
  section: string;
  settings: Record<string, unknown>;
  /** The module to import, or undefined for an unsupported store. */
  module: string | undefined;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function configError(message: string, hint?: string): DcsError {
  return new DcsError(DcsErrorCode.Config, message, hint === undefined ? {} : { hint });
}

function findCandidates(config: Record<string, unknown>): Candidate[] {
  const found: Candidate[] = [];
  for (const [section, value] of Object.entries(config)) {
    const known = section in BUILTIN_DRIVERS || section in UNSUPPORTED;
    const hasDriver = isMap(value) && 'driver' in value;
    if (!known && (!hasDriver || NOT_DCS.has(section))) continue;
    // `etcd3:` with nothing under it is an empty map in YAML terms.
    if (value !== null && value !== undefined && !isMap(value)) {
      throw configError(`${section}: expected a map of DCS settings, got ${Array.isArray(value) ? 'a list' : typeof value}`);
    }
    const settings: Record<string, unknown> = { ...(value ?? {}) };
    let module: string | undefined = BUILTIN_DRIVERS[section];
    if ('driver' in settings) {
      const driver = settings.driver;
      if (typeof driver !== 'string' || driver.trim() === '') {
        throw configError(`${section}.driver: expected the npm package name or path of a DCS driver module`);
      }
      module = driver.trim();
      delete settings.driver;
    }
    found.push({ section, settings, module });
  }
  return found;
}

/** Turns a `driver:` value into an importable specifier: paths become `file:` URLs. */
function toSpecifier(module: string, base: string | URL | undefined): string {
  if (module.startsWith('file:')) return module;
  if (!module.startsWith('./') && !module.startsWith('../') && !isAbsolute(module)) return module;
  const baseDir = base === undefined ? process.cwd() : base instanceof URL || base.startsWith('file:') ? fileURLToPath(base) : base;
  return pathToFileURL(resolve(baseDir, module)).href;
}

function factoryOf(mod: unknown): { createDriver: DriverFactory; kind?: string } | null {
  if (!isMap(mod) && typeof mod !== 'function') return null;
  const m = mod as Record<string, unknown>;
  const kindOf = (o: Record<string, unknown>): string | undefined => (typeof o.kind === 'string' ? o.kind : undefined);
  const withKind = (createDriver: DriverFactory, kind: string | undefined): { createDriver: DriverFactory; kind?: string } =>
    kind === undefined ? { createDriver } : { createDriver, kind };
  if (typeof m.createDriver === 'function') return withKind(m.createDriver as DriverFactory, kindOf(m));
  const d = m.default;
  if (typeof d === 'function') return withKind(d as DriverFactory, kindOf(m));
  // A CommonJS module seen through ESM interop: `module.exports = { createDriver }`.
  if (isMap(d) && typeof d.createDriver === 'function') return withKind(d.createDriver as DriverFactory, kindOf(d) ?? kindOf(m));
  return null;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Picks the DCS section of `config` and imports its driver. Rejects `DCS_CONFIG` when there is
 * no DCS section, more than one, an unsupported store or a malformed section, and
 * `DCS_PLUGIN_LOAD` when the module cannot be imported or exports no factory.
 */
export async function loadDriver(options: LoadDriverOptions): Promise<LoadedDriver> {
  const candidates = findCandidates(options.config);
  if (candidates.length === 0) {
    throw configError(
      `No DCS configured: the configuration has no ${Object.keys(BUILTIN_DRIVERS).map((s) => `\`${s}:\``).join(' or ')} section, and no section with a \`driver:\` key naming a DCS driver plugin.`,
      'Add for example `etcd3: { hosts: [127.0.0.1:2379] }`.',
    );
  }
  if (candidates.length > 1) {
    throw configError(
      `More than one DCS configured (sections ${candidates.map((c) => `\`${c.section}:\``).join(', ')}); keep exactly one.`,
    );
  }
  const candidate = candidates[0]!;
  const { section } = candidate;
  if (candidate.module === undefined) {
    throw configError(`pgha does not support Patroni's \`${section}:\` DCS. ${UNSUPPORTED[section] ?? ''}`.trim(), UNSUPPORTED[section]);
  }

  const specifier = toSpecifier(candidate.module, options.base);
  const importers = options.importers ?? defaultImporters;
  const failures: string[] = [];
  let mod: unknown;
  let imported = false;
  for (const [i, importer] of importers.entries()) {
    try {
      mod = await importer(specifier);
      imported = true;
      break;
    } catch (e) {
      failures.push(`importer ${i + 1}: ${messageOf(e)}`);
    }
  }
  if (!imported) {
    throw new DcsError(
      DcsErrorCode.PluginLoad,
      `Could not load the DCS driver for \`${section}:\` from '${specifier}': ${failures.join('; ') || 'no importer was given'}`,
      { hint: `Install the package '${candidate.module}' where pgha can find it, or fix \`${section}.driver\`.` },
    );
  }
  const factory = factoryOf(mod);
  if (factory === null) {
    throw new DcsError(
      DcsErrorCode.PluginLoad,
      `The module '${specifier}' (DCS driver for \`${section}:\`) exports neither a createDriver function nor a default function.`,
    );
  }
  return { section, settings: candidate.settings, specifier, kind: factory.kind ?? section, createDriver: factory.createDriver };
}
