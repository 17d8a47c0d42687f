/**
 * Which dynamic configuration the engine runs on. Normally the DCS `config` key as read; but when
 * that key does not parse (a broken hand edit in etcdctl or zkCli) or holds a timing value out of
 * range (config-bounds.ts), the engine keeps the last good value it saw rather than falling back
 * to `bootstrap.dcs` or the defaults: those would silently end `pause` or synchronous mode on
 * every member at once. The problem is logged once per change and shown by GET /config.
 */
import type { Cluster, ClusterConfig, Logger, Versioned } from '@pgha/dcs';
import type { EngineConfig, LocalEngineSettings } from './config.js';
import { resolveEngineConfig } from './config.js';
import { timingProblem } from './config-bounds.js';

export class DynamicConfigKeeper {
  readonly #settings: LocalEngineSettings;
  readonly #log: Logger;
  #lastGood: Versioned<ClusterConfig> | null = null;
  #problem: string | null = null;
  #said = '';

  constructor(settings: LocalEngineSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
  }

  /** Why the stored `config` value is not the one in effect; null when it is. */
  get problem(): string | null {
    return this.#problem;
  }

  /** The dynamic configuration in effect (null: none seen yet, `bootstrap.dcs` or defaults apply). */
  get inEffect(): Versioned<ClusterConfig> | null {
    return this.#lastGood;
  }

  /** The engine configuration for one cycle's read; never throws. */
  resolve(cluster: Cluster): EngineConfig {
    const stored = cluster.config;
    let problem: string | null = null;
    if (cluster.configError) problem = `the config key does not parse (${cluster.configError.value})`;
    else if (stored) {
      const timing = timingProblem(stored.value);
      if (timing) problem = `config.${timing}`;
    }
    if (problem === null) this.#lastGood = stored;
    this.#problem = problem;

    // With no good value seen yet (an agent started while the key was broken), an out-of-range
    // value is still resolved key by key (each bad key falls back to its default); an unparseable
    // one leaves only bootstrap.dcs.
    const dynamic = problem === null ? stored?.value : (this.#lastGood?.value ?? stored?.value ?? null);
    const { config, warnings } = resolveEngineConfig(dynamic, this.#settings);
    if (problem !== null) {
      const kept = this.#lastGood ? `the last good configuration (version ${this.#lastGood.version})` : 'bootstrap.dcs and the defaults';
      warnings.unshift(`invalid dynamic configuration in the DCS: ${problem}; running on ${kept} until it is fixed`);
    }
    // Said once per change of the configuration, not every cycle.
    const said = warnings.join('\n');
    if (said !== this.#said) for (const w of warnings) this.#log.warn(w);
    this.#said = said;
    return config;
  }
}
