/**
 * What every command handler gets: the configuration, DCS access, REST calls, prompts, and
 * `emit` to hand its results to the formatter. Built once per invocation by `runCli`, which
 * closes the DCS connections it opened when the command ends.
 */
import {
  createClusterStore,
  isDcsError,
  loadDriver,
  silentLogger,
  systemClock,
  type Cluster,
  type ClusterStore,
  type DriverFactory,
} from '@pgha/dcs';
import type { CtlConfig } from './ctl-config.js';
import { CliError, CliErrorCode } from './errors.js';
import type { ApiClient } from './member-api.js';
import type { Output } from './output.js';
import type { Prompter } from './prompt.js';

export interface CommandContext {
  config: CtlConfig;
  /** Hands a result to the formatter (printed at once, so prompts and results interleave as in patronictl). */
  emit(out: Output): void;
  /** A warning for the operator, on stderr (`Warning: ...`), so it never mixes with parseable output. */
  warn(text: string): void;
  prompter: Prompter;
  api: ApiClient;
  /** The cluster named on the command line, or the configuration's `scope`. */
  clusterName(arg: string | undefined): string;
  /** The store of `scope`, opened on first use. */
  store(scope: string): Promise<ClusterStore>;
  /** One read of the cluster; DCS failures become a one-line `CLI_DCS` error. */
  loadCluster(scope: string): Promise<Cluster>;
  /** Runs a DCS call, turning DCS failures into `CLI_DCS` errors. */
  dcsCall<T>(what: string, call: () => Promise<T>): Promise<T>;
  sleep(ms: number): Promise<void>;
  now(): Date;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdin: NodeJS.ReadableStream;
}

export interface StoreFactoryOptions {
  config: CtlConfig;
  /** Replaces the configuration's DCS (tests pass the in-memory driver). */
  createDriver?: DriverFactory | undefined;
}

export interface StoreRegistry {
  open(scope: string): Promise<ClusterStore>;
  closeAll(): Promise<void>;
}

function dcsError(config: CtlConfig, what: string, e: unknown): CliError {
  const message = e instanceof Error ? e.message : String(e);
  if (isDcsError(e, 'DCS_CONFIG') || isDcsError(e, 'DCS_PLUGIN_LOAD')) {
    return new CliError(CliErrorCode.Config, `${message}${config.path ? ` (in ${config.path})` : ''}`, { cause: e });
  }
  return new CliError(CliErrorCode.Dcs, `DCS error while ${what}: ${message}`, { cause: e });
}

export { dcsError };

export function createStoreRegistry(options: StoreFactoryOptions): StoreRegistry {
  const { config } = options;
  const stores = new Map<string, Promise<ClusterStore>>();
  const open = async (scope: string): Promise<ClusterStore> => {
    let factory = options.createDriver;
    let section: Record<string, unknown> = {};
    if (!factory) {
      try {
        const loaded = await loadDriver({ config: config.raw, base: config.base, importers: [(s) => import(s)] });
        factory = loaded.createDriver;
        section = loaded.settings;
      } catch (e) {
        throw dcsError(config, 'loading the DCS driver', e);
      }
    }
    try {
      const driver = await factory({
        namespace: config.namespace,
        scope,
        // patronictl connects under the cluster's name; it never writes a member key.
        name: scope,
        section,
        ttl: 30,
        loopWait: 10,
        retryTimeout: config.dcsTimeout,
        clock: systemClock,
        logger: silentLogger,
      });
      return createClusterStore(driver, { name: scope, logger: silentLogger });
    } catch (e) {
      throw dcsError(config, `connecting to the DCS for cluster ${scope}`, e);
    }
  };
  return {
    open(scope) {
      let s = stores.get(scope);
      if (!s) {
        s = open(scope);
        stores.set(scope, s);
      }
      return s;
    },
    async closeAll() {
      const all = [...stores.values()];
      stores.clear();
      await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close({ revoke: true }).catch(() => undefined)));
    },
  };
}
