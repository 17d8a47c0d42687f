/**
 * Applies the DCS `config` key's `postgresql` part to the controller. The engine says when (a
 * read shows a version it did not apply yet, core/dynamic-postgresql.ts, through the PostgreSQL
 * port's `applyDynamicConfig`) and what may apply; this carries it out. Anyone with DCS access
 * can write that key, so two rules run first:
 *
 * - the command rule (ha-engine dcs-commands.ts): commands PostgreSQL would run (`archive_command`,
 *   `recovery_conf.archive_cleanup_command`, ...) are dropped unless the local YAML sets
 *   `postgresql.allow_dcs_commands: true`, and scripts pgha runs are dropped always; the local
 *   YAML's values stay in force. Each dropped key is logged once per change of what is dropped.
 * - the controller's sanitizer: bad parameters are dropped, a bad pg_hba keeps the last good one.
 *
 * Then the engine's hot_standby_feedback rule for permanent logical slots (withSlotFeedback).
 * A failed update answers false, so the engine retries it at the next read; its warnings are said
 * once per version, not on every retry.
 */
import type { ClusterConfig, Logger, Versioned } from '@pgha/dcs';
import { allowedDynamicPostgresql, withSlotFeedback } from '@pgha/ha-engine';
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
  /** Applies `config` (the stored `config` key); true once applied. Never throws. */
  apply(config: Versioned<ClusterConfig>): Promise<boolean>;
}

export function createDynamicConfigApplier(options: DynamicConfigApplierOptions): DynamicConfigApplier {
  const { controller, logger } = options;
  let warnedVersion: string | null = null;
  let saidIgnored = '';
  let lastGood: DynamicPostgresql = options.initial ?? {};
  return {
    async apply(current) {
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
        const dynamic = withSlotFeedback({ ...current.value, postgresql: section.value }) as DynamicPostgresql;
        const change = await controller.updateConfiguration({ dynamic });
        lastGood = section.value;
        if (change.changed.length > 0 || change.hbaChanged) {
          logger.info({ changed: change.changed.map((c) => c.name), restartRequired: change.restartRequired }, 'applied the dynamic configuration');
        }
        for (const w of change.warnings) logger.warn(w);
        return true;
      } catch (e) {
        if (firstTry) logger.warn({ err: e }, 'could not apply the dynamic configuration from the DCS; retrying on every read');
        return false;
      }
    },
  };
}
