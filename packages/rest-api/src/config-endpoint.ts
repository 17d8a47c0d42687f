/**
 * PATCH /config and PUT /config, as Patroni answers them. The new value is written to the DCS
 * `config` key with a compare-and-set on the version just read, so two editors never silently
 * overwrite each other; the engine picks the change up on its next read (the API wakes it).
 */
import type { Cluster, ClusterConfig } from '@pgha/dcs';
import { dcsCommandWriteProblem, dynamicConfigWriteProblem } from '@pgha/ha-engine';
import type { ApiSnapshot } from './state.js';
import type { ApiAnswer } from './switchover.js';

export interface ConfigPorts {
  /** A fresh read of the cluster from the DCS. */
  loadCluster(): Promise<Cluster>;
  /** Writes the `config` key; with `expectVersion`, only if it is still that version. False when the CAS failed. */
  setConfig(config: ClusterConfig, expectVersion?: string | null): Promise<boolean>;
  /** Wakes the local HA loop so the change applies now. */
  wakeup(): void;
}

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Merges `patch` into a copy of `config`: objects merge recursively, `null` deletes the key,
 * anything else replaces it (Patroni's `patch_config`).
 */
export function patchConfig(config: Tree, patch: Tree): Tree {
  const out: Tree = { ...config };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (isTree(value)) {
      const current = out[key];
      out[key] = patchConfig(isTree(current) ? current : {}, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** This member's local rules for writes (`postgresql.allow_dcs_commands` of its YAML). */
export interface ConfigWriteRules {
  allowDcsCommands: boolean;
}

const json = (status: number, value: unknown): ApiAnswer => ({ status, text: JSON.stringify(value), type: 'application/json' });

/**
 * PATCH /config: merge `patch` into the current value, CAS on its version. The result must pass
 * the rules every writer of the key uses (`dynamicConfigWriteProblem`: types, bounds, PostgreSQL
 * parameters, and no new or changed command unless this member allows them): 400 naming the key
 * otherwise, and nothing is written.
 */
export async function patchClusterConfig(ports: ConfigPorts, patch: Tree, rules: ConfigWriteRules): Promise<ApiAnswer> {
  let cluster: Cluster;
  try {
    cluster = await ports.loadCluster();
  } catch (e) {
    return { status: 503, text: `DCS is not accessible: ${(e as Error).message}` };
  }
  const current = cluster.config;
  if (cluster.configError) {
    // Merging into a value nobody can read would guess at the operator's intent; PUT replaces it.
    return { status: 503, text: `The configuration in the DCS is invalid (${cluster.configError.value}); replace it with PUT /config or pghactl edit-config` };
  }
  if (!current) return { status: 503, text: 'Cluster has no configuration in the DCS' };
  const next = patchConfig(current.value, patch);
  const invalid = dynamicConfigWriteProblem(next, { current: current.value, allowDcsCommands: rules.allowDcsCommands });
  if (invalid) return { status: 400, text: invalid };
  let written: boolean;
  try {
    written = await ports.setConfig(next, current.version);
  } catch (e) {
    return { status: 503, text: `DCS is not accessible: ${(e as Error).message}` };
  }
  if (!written) return { status: 409, text: 'Conflict: the configuration was changed concurrently' };
  ports.wakeup();
  return json(200, next);
}

/** PUT /config: replace the whole value (the same rules as PATCH). */
export async function putClusterConfig(ports: ConfigPorts, config: Tree, rules: ConfigWriteRules): Promise<ApiAnswer> {
  let current: Tree | null = null;
  if (dcsCommandWriteProblem(config, null, rules.allowDcsCommands)) {
    // A command may stay only as it is already stored: read what is.
    try {
      current = (await ports.loadCluster()).config?.value ?? null;
    } catch (e) {
      return { status: 503, text: `DCS is not accessible: ${(e as Error).message}` };
    }
  }
  const invalid = dynamicConfigWriteProblem(config, { current, allowDcsCommands: rules.allowDcsCommands });
  if (invalid) return { status: 400, text: invalid };
  let written: boolean;
  try {
    written = await ports.setConfig(config);
  } catch {
    written = false;
  }
  if (!written) return { status: 502, text: 'failed to write the configuration into DCS' };
  ports.wakeup();
  return json(200, config);
}

/** The header GET /config sets when the stored value is not the one in effect. */
export const CONFIG_INVALID_HEADER = 'X-Pgha-Config-Invalid';

/**
 * GET /config: the DCS value (Patroni: 502 when there is none). When that value does not parse or
 * is out of range, the engine runs on the last good one: that is what is answered, with
 * CONFIG_INVALID_HEADER saying why, so a reader is never shown a configuration nobody applies.
 */
export function configAnswer(snapshot: ApiSnapshot): { status: number; text: string; type: string; headers?: Record<string, string> } {
  const problem = snapshot.configProblem;
  if (problem) {
    // A header value must be one line of visible ASCII (the reason quotes DCS text).
    const headers = { [CONFIG_INVALID_HEADER]: problem.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) };
    const kept = snapshot.configInEffect;
    if (kept) return { status: 200, text: JSON.stringify(kept), type: 'application/json', headers };
    return { status: 502, text: `invalid configuration in the DCS: ${problem}`, type: 'text/plain', headers };
  }
  const config = snapshot.cluster?.config?.value;
  return config ? { status: 200, text: JSON.stringify(config), type: 'application/json' } : { status: 502, text: 'Bad Gateway', type: 'text/plain' };
}
