/**
 * A configuration change applied to the running server: new sections (a reload of the agent's
 * YAML or of the DCS config) or the engine's synchronous_standby_names. The files are rewritten,
 * the postmaster gets SIGHUP, and the answer says what changed and what still needs a restart.
 */
import type { BootstrapSection, DynamicPostgresql, PostgresqlSection } from './config.js';
import type { ConfigWriter } from './config-writer.js';
import type { ConfigurationChange } from './contract.js';
import type { ControllerContext } from './controller-context.js';
import { inspectDataDirectoryPath } from './files.js';
import type { EffectiveParameters } from './parameters.js';
import type { Postmaster } from './postmaster.js';
import { pendingRestart, type StateRow } from './state-query.js';
import type { SynchronousStandbySpec } from './synchronous-standby.js';

export class Reconfigure {
  private readonly ctx: ControllerContext;
  private readonly config: ConfigWriter;
  private readonly postmaster: Postmaster;

  constructor(ctx: ControllerContext, config: ConfigWriter, postmaster: Postmaster) {
    this.ctx = ctx;
    this.config = config;
    this.postmaster = postmaster;
  }

  async update(next: { postgresql?: PostgresqlSection; dynamic?: DynamicPostgresql; bootstrap?: BootstrapSection }): Promise<ConfigurationChange> {
    const { settings, state, session, runAs } = this.ctx;
    settings.update(next);
    const before = this.config.written;
    const pm = this.postmaster.current;
    if (!pm || (await inspectDataDirectoryPath(settings.dataDir, runAs)) !== 'initialized') {
      // Nothing to reload: report what the next start will apply.
      const params = await this.config.desiredParameters();
      return {
        changed: diffParameters(before, params).map((c) => ({ ...c, context: null })),
        hbaChanged: false,
        reloaded: false,
        restartRequired: [],
        pendingRestart: false,
        pendingRestartReason: {},
        warnings: params.warnings,
      };
    }
    const { params, hbaChanged } = await this.config.write();
    const changes = diffParameters(before, params);
    const contexts = new Map<string, string>();
    if (changes.length > 0) {
      const rows = await session
        .query<{ name: string; context: string }>('SELECT name, context FROM pg_catalog.pg_settings WHERE name = ANY($1::text[])', [changes.map((c) => c.name)])
        .catch(() => []);
      for (const r of rows) contexts.set(r.name, r.context);
    }
    await this.postmaster.reload(pm);
    this.ctx.callbacks.fire('on_reload', this.ctx.callbackRole(state.role));
    const rows = await session
      .query<NonNullable<StateRow['settings']>[number]>(
        'SELECT name, setting, unit, pending_restart FROM pg_catalog.pg_settings WHERE pending_restart OR name = ANY($1::text[])',
        [[...params.commandLine.keys()]],
      )
      .catch(() => []);
    const reason = pendingRestart(rows, params.file, params.commandLine, state.role);
    const changed = changes.map((c) => ({ ...c, context: contexts.get(c.name) ?? null }));
    return {
      changed,
      hbaChanged,
      reloaded: true,
      restartRequired: changed.filter((c) => c.context === 'postmaster' || params.commandLine.has(c.name)).map((c) => c.name),
      pendingRestart: Object.keys(reason).length > 0,
      pendingRestartReason: reason,
      warnings: params.warnings,
    };
  }

  /** Applies the engine's synchronous_standby_names (null: the configured value); the value set. */
  async setSynchronousStandbyNames(spec: SynchronousStandbySpec | null): Promise<string> {
    const { settings, logger, runAs } = this.ctx;
    const value = this.config.decideSynchronousStandbyNames(spec);
    logger.info({ synchronous_standby_names: value }, `Assigning synchronous_standby_names to ${value === '' ? 'none' : value}`);
    if ((await inspectDataDirectoryPath(settings.dataDir, runAs)) !== 'initialized') return value;
    await this.config.write();
    const pm = this.postmaster.current;
    if (pm) await this.postmaster.reload(pm);
    return value;
  }
}

/** Parameters whose value differs between two renderings (null = absent). */
function diffParameters(before: EffectiveParameters | null, after: EffectiveParameters): Array<{ name: string; oldValue: string | null; newValue: string | null }> {
  if (!before) return [];
  const names = new Set([...before.file.keys(), ...after.file.keys()]);
  const changes: Array<{ name: string; oldValue: string | null; newValue: string | null }> = [];
  for (const name of [...names].sort()) {
    const oldValue = before.file.get(name) ?? null;
    const newValue = after.file.get(name) ?? null;
    if (oldValue !== newValue) changes.push({ name, oldValue, newValue });
  }
  return changes;
}
