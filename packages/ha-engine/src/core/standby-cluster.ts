/**
 * The dynamic `standby_cluster` section: the whole cluster replicates from another cluster's
 * primary. Parsed here once; the standby-leader rules (rules/standby-leader.ts) act on it.
 */
import type { FollowTarget } from './actions.js';
import { showValue } from './config-bounds.js';

export interface StandbyClusterConfig {
  /** `standby_cluster.host` of the remote primary (required). */
  host: string;
  /** `standby_cluster.port` (default 5432). */
  port: number;
  /** `standby_cluster.primary_slot_name`: the slot on the remote primary; null = stream without a slot. */
  primarySlotName: string | null;
  /** `standby_cluster.create_replica_methods` (default: the member's own methods). */
  createReplicaMethods: string[] | null;
  /** `restore_command`, `archive_cleanup_command`, `recovery_min_apply_delay`, rendered as text. */
  recoveryConf: Record<string, string>;
}

const RECOVERY_KEYS = ['restore_command', 'archive_cleanup_command', 'recovery_min_apply_delay'] as const;

/**
 * The section, or null when absent or null (a normal cluster). A section without a usable
 * `host` is ignored with a warning: following nobody would silently stop replication.
 */
export function standbyClusterOf(v: unknown, warnings: string[]): StandbyClusterConfig | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) {
    warnings.push(`config.standby_cluster: expected a mapping with host and port, got ${showValue(v)}; ignored`);
    return null;
  }
  const raw = v as Record<string, unknown>;
  const host = raw['host'];
  if (typeof host !== 'string' || host.trim() === '') {
    warnings.push(`config.standby_cluster.host: expected the remote primary's host name, got ${showValue(host)}; standby_cluster ignored`);
    return null;
  }
  const port = raw['port'] === undefined || raw['port'] === null ? 5432 : Number(raw['port']);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    warnings.push(`config.standby_cluster.port: expected a TCP port, got ${showValue(raw['port'])}; standby_cluster ignored`);
    return null;
  }
  const slot = raw['primary_slot_name'];
  const methods = raw['create_replica_methods'];
  const recoveryConf: Record<string, string> = {};
  for (const key of RECOVERY_KEYS) {
    const value = raw[key];
    if (typeof value === 'string' || typeof value === 'number') recoveryConf[key] = String(value);
  }
  return {
    host: host.trim(),
    port,
    primarySlotName: typeof slot === 'string' && slot !== '' ? slot : null,
    createReplicaMethods: Array.isArray(methods) && methods.every((m) => typeof m === 'string') ? (methods as string[]) : null,
    recoveryConf,
  };
}

/** The remote primary as a follow target, named `host:port` so a changed address re-points the standby leader. */
export function remotePrimaryTarget(standby: StandbyClusterConfig): FollowTarget {
  const host = standby.host.includes(':') ? `[${standby.host}]` : standby.host;
  return {
    name: `${host}:${standby.port}`,
    connUrl: `postgres://${host}:${standby.port}/postgres`,
    remote: { slotName: standby.primarySlotName, recoveryConf: standby.recoveryConf, createReplicaMethods: standby.createReplicaMethods },
  };
}
