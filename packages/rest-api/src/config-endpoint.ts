/**
 * PATCH /config and PUT /config, as Patroni answers them. The new value is written to the DCS
 * `config` key with a compare-and-set on the version just read, so two editors never silently
 * overwrite each other; the engine picks the change up on its next read (the API wakes it).
 */
import type { Cluster, ClusterConfig } from '@pgha/dcs';
import { parseMaximumLagOnFailover } from '@pgha/ha-engine';
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

/** Keys whose type is checked before a write: a wrong one would break every member's next cycle. */
const NUMERIC_KEYS = [
  'ttl',
  'loop_wait',
  'retry_timeout',
  'maximum_lag_on_syncnode',
  'max_timelines_history',
  'primary_start_timeout',
  'primary_stop_timeout',
  'master_start_timeout',
  'master_stop_timeout',
  'synchronous_node_count',
];
const BOOLEAN_KEYS = ['pause', 'failsafe_mode', 'check_timeline', 'synchronous_mode_strict'];
const OBJECT_KEYS = ['postgresql', 'standby_cluster', 'slots'];

/** The first invalid field of a dynamic configuration, named by its key path; null when valid. */
export function invalidConfigField(config: Tree): string | null {
  for (const key of NUMERIC_KEYS) {
    const v = config[key];
    // -1 is Patroni's "off" for maximum_lag_on_syncnode (and its default).
    const floor = key === 'maximum_lag_on_syncnode' ? -1 : 0;
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= floor) && !(typeof v === 'string' && /^-?\d+$/.test(v) && Number(v) >= floor)) {
      return floor < 0 ? `${key}: expected -1 (off) or a non-negative number` : `${key}: expected a non-negative number`;
    }
  }
  // Bytes as in Patroni, or (pgha) a replay time such as `10s`.
  const lag = config['maximum_lag_on_failover'];
  if (lag !== undefined) {
    const parsed = parseMaximumLagOnFailover(lag);
    if (!parsed.ok) return `maximum_lag_on_failover: ${parsed.error}`;
  }
  for (const key of BOOLEAN_KEYS) {
    const v = config[key];
    if (v !== undefined && typeof v !== 'boolean') return `${key}: expected true or false`;
  }
  for (const key of OBJECT_KEYS) {
    const v = config[key];
    if (v !== undefined && !isTree(v)) return `${key}: expected an object`;
  }
  const pg = config['postgresql'];
  if (isTree(pg)) {
    const params = pg['parameters'];
    if (params !== undefined && !isTree(params)) return 'postgresql.parameters: expected an object';
    for (const list of ['pg_hba', 'pg_ident']) {
      const v = pg[list];
      if (v !== undefined && !(Array.isArray(v) && v.every((line) => typeof line === 'string'))) return `postgresql.${list}: expected a list of strings`;
    }
  }
  const mode = config['synchronous_mode'];
  if (mode !== undefined && typeof mode !== 'boolean' && !['on', 'off', 'quorum', 'true', 'false'].includes(String(mode))) {
    return 'synchronous_mode: expected on, off or quorum';
  }
  return null;
}

const json = (status: number, value: unknown): ApiAnswer => ({ status, text: JSON.stringify(value), type: 'application/json' });

/** PATCH /config: merge `patch` into the current value, CAS on its version. */
export async function patchClusterConfig(ports: ConfigPorts, patch: Tree): Promise<ApiAnswer> {
  let cluster: Cluster;
  try {
    cluster = await ports.loadCluster();
  } catch (e) {
    return { status: 503, text: `DCS is not accessible: ${(e as Error).message}` };
  }
  const current = cluster.config;
  if (!current) return { status: 503, text: 'Cluster has no configuration in the DCS' };
  const next = patchConfig(current.value, patch);
  const invalid = invalidConfigField(next);
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

/** PUT /config: replace the whole value. */
export async function putClusterConfig(ports: ConfigPorts, config: Tree): Promise<ApiAnswer> {
  const invalid = invalidConfigField(config);
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
