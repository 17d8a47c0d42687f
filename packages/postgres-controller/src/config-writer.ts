/**
 * Writes the files PostgreSQL reads: postgresql.conf (over postgresql.base.conf), pg_hba.conf,
 * pg_ident.conf, the .pgpass file, and the standby settings (standby.signal / recovery.signal and
 * recovery parameters from PostgreSQL 12, recovery.conf before: recovery-settings.ts), for the role and upstream in ControllerState. It owns what it last wrote (so a reload can tell
 * what changed, and state() what needs a restart) and the synchronous_standby_names the engine set.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControllerContext } from './controller-context.js';
import type { ReplicationSource } from './contract.js';
import { isGeneratedConf, managedSynchronousStandbyNames, readConfValue, renderLinesFile, renderPostgresqlConf, renderRecoveryConf } from './config-files.js';
import { localHostFor, parseConninfo, parseHostPort, pgpassContent, type PgpassTarget } from './conninfo.js';
import { ensureOwnedDirectory, pathExists, writeOwnedFile } from './files.js';
import { REPLICA_MINIMUM_SOURCES, effectiveParameters, renderParameterValue, type EffectiveParameters } from './parameters.js';
import { locatePgpass, removePgpassLocation, writePgpassFile, type PgpassLocation } from './pgpass-file.js';
import type { Programs } from './programs.js';
import { recoveryEntries, usesRecoveryConf } from './recovery-settings.js';
import { formatSynchronousStandbyNames, type SynchronousStandbySpec } from './synchronous-standby.js';

/** A clone or rewind about to run: its source's hosts get the role's password first. */
export interface PgpassSource {
  source: ReplicationSource;
  kind: 'replication' | 'rewind';
}

export class ConfigWriter {
  private readonly ctx: ControllerContext;
  private readonly programs: Programs;
  /** The parameters of the last postgresql.conf written (or, adopted, that should be): null before. */
  private lastWritten: EffectiveParameters | null = null;
  /** What the engine set (null: the configured value applies). */
  private synchronousStandbyNames: string | null = null;
  /** False until the engine first sets synchronous_standby_names (see SYNC_NAMES_MARKER). */
  private synchronousStandbyNamesDecided = false;

  constructor(ctx: ControllerContext, programs: Programs) {
    this.ctx = ctx;
    this.programs = programs;
  }

  get written(): EffectiveParameters | null {
    return this.lastWritten;
  }

  /** An adopted server: what it should run with, so state() can tell a pending restart before anything is rewritten. */
  async assumeWritten(): Promise<void> {
    this.lastWritten = await this.desiredParameters().catch(() => null);
  }

  /** Records the engine's decision; the value postgresql.conf will carry ('' = none). */
  decideSynchronousStandbyNames(spec: SynchronousStandbySpec | null): string {
    this.synchronousStandbyNames = spec === null ? null : formatSynchronousStandbyNames(spec);
    this.synchronousStandbyNamesDecided = true;
    const configured = this.ctx.settings.mergedParameters().synchronous_standby_names;
    return this.synchronousStandbyNames ?? (configured === undefined ? '' : renderParameterValue(configured));
  }

  /** The parameters for the current role: a replica never goes below its primary's settings. */
  async desiredParameters(): Promise<EffectiveParameters> {
    return this.parameters(this.ctx.state.role === 'replica' ? await this.primaryMinimums() : undefined);
  }

  private async parameters(minimums?: Record<string, number>): Promise<EffectiveParameters> {
    const { settings } = this.ctx;
    const forced: Record<string, string> = {
      hba_file: settings.hbaLines() !== undefined ? join(settings.configDir, 'pg_hba.conf') : join(settings.dataDir, 'pg_hba.conf'),
      ident_file: settings.identLines() !== undefined ? join(settings.configDir, 'pg_ident.conf') : join(settings.dataDir, 'pg_ident.conf'),
    };
    if (settings.configDir !== settings.dataDir) forced.data_directory = settings.dataDir;
    if (this.synchronousStandbyNames !== null) forced.synchronous_standby_names = this.synchronousStandbyNames;
    return effectiveParameters({
      serverVersion: await this.programs.serverVersion(),
      dynamic: settings.dynamic.parameters,
      local: settings.local.parameters,
      listenAddresses: settings.listen.hosts.join(','),
      port: settings.listen.port,
      clusterName: settings.scope,
      forced,
      minimums,
    });
  }

  /** The primary's settings a hot standby may not go below, from the local pg_control. */
  private async primaryMinimums(): Promise<Record<string, number> | undefined> {
    if (!(await pathExists(join(this.ctx.settings.dataDir, 'global', 'pg_control')))) return undefined;
    const control = await this.programs.controlData().catch(() => null);
    if (!control) return undefined;
    const minimums: Record<string, number> = {};
    for (const [name, label] of Object.entries(REPLICA_MINIMUM_SOURCES)) {
      const value = Number(control.raw[label]);
      if (Number.isInteger(value) && value > 0) minimums[name] = value;
    }
    return minimums;
  }

  /**
   * Writes every file PostgreSQL reads for the current role. `recovery` replaces the standby
   * settings with a one-off archive recovery (custom bootstrap): recovery.signal instead of standby.signal.
   */
  async write(opts: { recovery?: Record<string, string> } = {}): Promise<{ params: EffectiveParameters; hbaChanged: boolean }> {
    const { settings, state, logger, runAs } = this.ctx;
    if (!this.synchronousStandbyNamesDecided) {
      // A restarted agent keeps what the engine had set until the engine decides again.
      const previous = await readFile(settings.confPath, 'utf8').catch(() => '');
      this.synchronousStandbyNames = managedSynchronousStandbyNames(previous);
      if (this.synchronousStandbyNames !== null) {
        logger.info({ synchronous_standby_names: this.synchronousStandbyNames }, 'keeping synchronous_standby_names as the HA engine last set it');
      }
    }
    const params = await this.desiredParameters();
    for (const warning of params.warnings) logger.warn({ config: 'postgresql' }, warning);
    if (settings.configDir !== settings.dataDir) await ensureOwnedDirectory(settings.configDir, { mode: 0o700, owner: runAs });

    const include = settings.local.custom_conf ?? 'postgresql.base.conf';
    if (settings.local.custom_conf === undefined) await this.ensureBaseConf();

    let hbaChanged = false;
    const hba = settings.hbaLines();
    if (hba !== undefined) hbaChanged = (await this.writeIfChanged(join(settings.configDir, 'pg_hba.conf'), renderLinesFile(hba))) || hbaChanged;
    const ident = settings.identLines();
    if (ident !== undefined) hbaChanged = (await this.writeIfChanged(join(settings.configDir, 'pg_ident.conf'), renderLinesFile(ident))) || hbaChanged;

    await this.writePgpass();
    const serverVersion = await this.programs.serverVersion();
    const standby = opts.recovery ? { recoveryConf: opts.recovery } : state.role === 'replica' ? settings.standbySettings(state.upstream) : undefined;
    const recovery = standby ? recoveryEntries({ standby, standbyMode: !opts.recovery, serverVersion }) : undefined;
    for (const warning of recovery?.warnings ?? []) logger.warn({ config: 'recovery_conf' }, warning);
    const legacy = usesRecoveryConf(serverVersion);
    const conf = renderPostgresqlConf({
      include,
      parameters: params.file,
      recovery: legacy ? undefined : recovery?.entries,
      synchronousStandbyNamesManaged: this.synchronousStandbyNames !== null,
    });
    await writeOwnedFile(settings.confPath, conf, { mode: 0o600, owner: runAs });

    const standbySignal = join(settings.dataDir, 'standby.signal');
    const recoverySignal = join(settings.dataDir, 'recovery.signal');
    if (legacy) {
      // PostgreSQL 10 and 11 recover while recovery.conf exists (and rename it recovery.done when they promote).
      const recoveryConf = join(settings.dataDir, 'recovery.conf');
      if (recovery) await writeOwnedFile(recoveryConf, renderRecoveryConf(recovery.entries), { mode: 0o600, owner: runAs });
      else await rm(recoveryConf, { force: true });
    } else if (opts.recovery) {
      await writeOwnedFile(recoverySignal, '', { mode: 0o600, owner: runAs });
      await rm(standbySignal, { force: true });
    } else if (state.role === 'replica') {
      await writeOwnedFile(standbySignal, '', { mode: 0o600, owner: runAs });
    } else {
      await rm(standbySignal, { force: true });
      await rm(recoverySignal, { force: true });
    }
    this.lastWritten = params;
    return { params, hbaChanged };
  }

  private async writeIfChanged(path: string, content: string): Promise<boolean> {
    const old = await readFile(path, 'utf8').catch(() => null);
    if (old === content) return false;
    await writeOwnedFile(path, content, { mode: 0o600, owner: this.ctx.runAs });
    return true;
  }

  /**
   * postgresql.base.conf holds the DBA's settings. The first time, it is what initdb (or the
   * clone's source) left as postgresql.conf; failing that, an empty file.
   */
  async ensureBaseConf(): Promise<void> {
    const { settings } = this.ctx;
    const base = join(settings.configDir, 'postgresql.base.conf');
    if (await pathExists(base)) return;
    for (const candidate of [settings.confPath, join(settings.dataDir, 'postgresql.conf')]) {
      const content = await readFile(candidate, 'utf8').catch(() => null);
      if (content !== null && !isGeneratedConf(content)) {
        await rename(candidate, base);
        return;
      }
    }
    await writeOwnedFile(base, '', { mode: 0o600, owner: this.ctx.runAs });
  }

  /** True when the data directory is set up to start as a standby: standby.signal (12+) or recovery.conf (10, 11). */
  async standbyConfigured(): Promise<boolean> {
    const { settings } = this.ctx;
    if (!usesRecoveryConf(await this.programs.serverVersion())) return pathExists(join(settings.dataDir, 'standby.signal'));
    const content = await readFile(join(settings.dataDir, 'recovery.conf'), 'utf8').catch(() => '');
    // Also a hand-written or Patroni-written file: `standby_mode = on`, quoted or not, any boolean spelling.
    return /^\s*standby_mode\s*=\s*'?\s*(on|true|yes|1|t|y)\s*'?\s*(#.*)?$/im.test(content);
  }

  /** The upstream (and its slot) named by primary_conninfo in the postgresql.conf (10, 11: recovery.conf) a previous agent wrote. */
  async configuredUpstream(): Promise<ReplicationSource | null> {
    const { settings } = this.ctx;
    const file = usesRecoveryConf(await this.programs.serverVersion()) ? join(settings.dataDir, 'recovery.conf') : settings.confPath;
    const content = await readFile(file, 'utf8').catch(() => '');
    const conninfo = readConfValue(content, 'primary_conninfo');
    if (!conninfo) return null;
    const params = parseConninfo(conninfo);
    if (!params.host) return null;
    // The engine named the slot when it was written; keep it across rewrites of an adopted server.
    const slotName = readConfValue(content, 'primary_slot_name');
    return { host: params.host, port: params.port ? Number(params.port) : 5432, ...(slotName ? { slotName } : {}) };
  }

  // ---------------------------------------------------------------- the .pgpass file

  async writePgpass(also?: PgpassSource): Promise<void> {
    const location = await this.locatePgpass();
    await writePgpassFile(location, pgpassContent(this.pgpassTargets(also)), this.ctx.runAs, this.ctx.settings.local.pgpass !== undefined);
  }

  /** Decides where the .pgpass file goes (once per `postgresql.pgpass` value); the location. */
  private async locatePgpass(): Promise<PgpassLocation> {
    const { settings, runAs, logger } = this.ctx;
    const key = settings.local.pgpass ?? `default:${settings.dataDir}`;
    if (settings.pgpassLocation?.for === key) return settings.pgpassLocation.location;
    const previous = settings.pgpassLocation?.location;
    const location = await locatePgpass({ configured: settings.local.pgpass, dataDir: settings.dataDir, owner: runAs, scope: settings.scope, name: settings.name, logger });
    settings.pgpassLocation = { for: key, location };
    if (previous) await removePgpassLocation(previous);
    return location;
  }

  /**
   * The hosts each role's password is offered to: `also` first (the source of a clone or rewind
   * about to run), then the upstream primary_conninfo streams from, then this server's own
   * addresses (its listen addresses, connect_address, socket directory, localhost) for scripts
   * such as post_bootstrap and callbacks.
   */
  private pgpassTargets(also?: PgpassSource): PgpassTarget[] {
    const { settings, state } = this.ctx;
    const targets: PgpassTarget[] = [];
    const hostsOf = (source: ReplicationSource) => source.host.split(',');
    if (also) targets.push({ hosts: hostsOf(also.source), port: also.source.port, auth: settings.auth(settings.sourceRole(also.kind)) });
    if (state.role === 'replica' && state.upstream && !state.upstream.noStream) {
      targets.push({ hosts: hostsOf(state.upstream), port: state.upstream.port, auth: settings.auth('replication') });
    }
    const local = new Set(settings.listen.hosts.map(localHostFor));
    try {
      if (settings.local.connect_address) for (const host of parseHostPort(settings.local.connect_address, 'postgresql.connect_address', settings.listen.port).hosts) local.add(host);
    } catch {
      // A bad connect_address is reported where it is used; it only adds no line here.
    }
    local.add(settings.socketDirectory());
    local.add('localhost');
    for (const role of ['superuser', 'replication', 'rewind'] as const) targets.push({ hosts: [...local], port: settings.listen.port, auth: settings.auth(role) });
    return targets;
  }
}
