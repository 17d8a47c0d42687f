/**
 * The DCS `config` key's `postgresql` part as it is applied to the local PostgreSQL: when a read
 * calls for applying it, which part may apply (the command rule, dcs-commands.ts), and what the
 * engine adds to it (hot_standby_feedback for permanent logical slots). The runtime asks the
 * PostgreSQL port to apply it as soon as a read shows a version not applied yet, before the cycle
 * decides anything on it; the port's controller sanitizes the values and writes the files.
 */
import type { ClusterConfig, Versioned } from '@pgha/dcs';
import { permanentSlotsOf } from './config.js';
import { withoutDcsCommands } from './dcs-commands.js';

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The stored configuration to apply now, or null. A version counts as applied only once the port
 * said it applied it (`appliedVersion`), so a failed update is tried again at the next read; a
 * version already applied is not applied again (a read every cycle must not reload PostgreSQL).
 */
export function dynamicConfigToApply(stored: Versioned<ClusterConfig> | null | undefined, appliedVersion: string | null): Versioned<ClusterConfig> | null {
  if (!stored || stored.version === appliedVersion) return null;
  return stored;
}

/**
 * The part of a dynamic configuration's `postgresql` section that may apply on this member: the
 * command rule drops the shell commands (unless `postgresql.allow_dcs_commands`) and the scripts
 * pgha runs itself; `ignored` says, key by key, what was dropped and what applies instead.
 */
export function allowedDynamicPostgresql(config: Tree, options: { allowDcsCommands: boolean; localPostgresql?: unknown }): { postgresql: unknown; ignored: string[] } {
  const { config: allowed, ignored } = withoutDcsCommands({ postgresql: config['postgresql'] }, options);
  return { postgresql: allowed['postgresql'], ignored: ignored.map((i) => i.message) };
}

/** The configuration keeps permanent logical slots (`slots`, read as the engine reads it). */
export function hasPermanentLogicalSlots(config: Tree): boolean {
  return permanentSlotsOf(config['slots']).some((slot) => slot.type === 'logical');
}

/**
 * The `postgresql` section of `config` as the controller applies it. With permanent logical
 * slots, replicas keep copies of them (slots.ts) that must not lose the catalog rows their
 * decoding needs: `hot_standby_feedback` is turned on, as Patroni does, unless the DBA set it.
 */
export function withSlotFeedback(config: Tree): Tree {
  const postgresql = isTree(config['postgresql']) ? config['postgresql'] : {};
  const parameters = isTree(postgresql['parameters']) ? postgresql['parameters'] : {};
  if (!hasPermanentLogicalSlots(config) || parameters['hot_standby_feedback'] !== undefined) return postgresql;
  return { ...postgresql, parameters: { ...parameters, hot_standby_feedback: 'on' } };
}
