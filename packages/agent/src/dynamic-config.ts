/**
 * Applies the DCS `config` key's `postgresql` part to the controller as soon as a read shows it
 * changed, before the cycle decides anything on it. Anyone with DCS access can write that key,
 * so two rules run first:
 *
 * - the command rule (ha-engine dcs-commands.ts): commands PostgreSQL would run (`archive_command`,
 *   `recovery_conf.archive_cleanup_command`, ...) are dropped unless the local YAML sets
 *   `postgresql.allow_dcs_commands: true`, and scripts pgha runs are dropped always; the local
 *   YAML's values stay in force. Each dropped key is logged once per change of what is dropped.
 * - the controller's sanitizer: bad parameters are dropped, a bad pg_hba keeps the last good one.
 *
 * A version counts as applied only once the update succeeded, so a failure is retried next read;
 * its warnings are said once per version, not on every retry.
 */
import type { Cluster, Logger } from '@pgha/dcs';
import { withoutDcsCommands } from '@pgha/ha-engine';
import { sanitizeDynamicPostgresql, type DynamicPostgresql, type PostgresController } from '@pgha/postgres-controller';

type Tree = Record<string, unknown>;

/** The levels the applier logs at, of the shared Logger. */
export type DynamicConfigLogger = Pick<Logger, 'info' | 'warn'>;

export interface DynamicConfigApplierOptions {
  controller: Pick<PostgresController, 'updateConfiguration'>;
  logger: DynamicConfigLogger;
  /** `postgresql.allow_dcs_commands` of the local YAML, as read at start. */
  allowDcsCommands: boolean;
  /** The local `postgresql:` section (to say whether a local value applies instead of a dropped one). */
  localPostgresql: () => Tree;
  /** What the controller was created with (`bootstrap.dcs.postgresql`): the first "last good" section. */
  initial?: DynamicPostgresql;
}

export interface DynamicConfigApplier {
  /** Applies `cluster.config` if its version was not applied yet. Never throws. */
  apply(cluster: Cluster): Promise<void>;
}

/** The part of a dynamic configuration value that may apply on this member (the command rule). */
export function allowedDynamicPostgresql(config: Tree, options: { allowDcsCommands: boolean; localPostgresql?: unknown }): { postgresql: unknown; ignored: string[] } {
  const { config: allowed, ignored } = withoutDcsCommands({ postgresql: config['postgresql'] }, options);
  return { postgresql: allowed['postgresql'], ignored: ignored.map((i) => i.message) };
}

export function createDynamicConfigApplier(options: DynamicConfigApplierOptions): DynamicConfigApplier {
  const { controller, logger } = options;
  let appliedVersion: string | null = null;
  let warnedVersion: string | null = null;
  let saidIgnored = '';
  let lastGood: DynamicPostgresql = options.initial ?? {};
  return {
    async apply(cluster) {
      const current = cluster.config;
      if (!current || current.version === appliedVersion) return;
      const firstTry = warnedVersion !== current.version;
      warnedVersion = current.version;
      const allowed = allowedDynamicPostgresql(current.value, { allowDcsCommands: options.allowDcsCommands, localPostgresql: options.localPostgresql() });
      // Once per change of what is dropped, not at every write of the key (a pause toggles it).
      const said = allowed.ignored.join('\n');
      if (said !== saidIgnored) for (const w of allowed.ignored) logger.warn(w);
      saidIgnored = said;
      const section = sanitizeDynamicPostgresql(allowed.postgresql, lastGood);
      if (firstTry) for (const w of section.warnings) logger.warn(w);
      try {
        const change = await controller.updateConfiguration({ dynamic: withSlotFeedback({ ...current.value, postgresql: section.value }) });
        appliedVersion = current.version;
        lastGood = section.value;
        if (change.changed.length > 0 || change.hbaChanged) {
          logger.info({ changed: change.changed.map((c) => c.name), restartRequired: change.restartRequired }, 'applied the dynamic configuration');
        }
        for (const w of change.warnings) logger.warn(w);
      } catch (e) {
        if (firstTry) logger.warn({ err: e }, 'could not apply the dynamic configuration from the DCS; retrying on every read');
      }
    },
  };
}

/**
 * The DCS `postgresql` section as the controller applies it. With permanent logical slots,
 * replicas keep copies of them (slots.ts) that must not lose the catalog rows their decoding
 * needs: `hot_standby_feedback` is turned on, as Patroni does, unless the DBA set it.
 */
export function withSlotFeedback(config: Record<string, unknown>): DynamicPostgresql {
  const postgresql = (config['postgresql'] ?? {}) as DynamicPostgresql;
  const slots = config['slots'];
  const logical =
    typeof slots === 'object' && slots !== null && Object.values(slots).some((v) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'logical');
  const parameters = (postgresql.parameters ?? {}) as Record<string, unknown>;
  if (!logical || parameters['hot_standby_feedback'] !== undefined) return postgresql;
  return { ...postgresql, parameters: { ...parameters, hot_standby_feedback: 'on' } } as DynamicPostgresql;
}
