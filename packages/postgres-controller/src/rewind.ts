/**
 * pg_rewind of a stopped former primary onto the new one, and what it needs first: a clean
 * shutdown (crash recovery in single-user mode), checksums or wal_log_hints, a checkpoint on the
 * source's new timeline, and a report of the transactions the rewind is about to discard
 * (salvage.ts). pg_rewind copies the source's config files over ours: they are put back after.
 */
import { ControllerPart } from './controller-part.js';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CustomTypesConfig } from 'pg';
import { describeRun } from './callbacks.js';
import type { ReplicationSource } from './contract.js';
import { stoppedPosition } from './control-data.js';
import { PostgresError, PostgresErrorCode, describeError, throwIfAborted } from './errors.js';
import { writeOwnedFile } from './files.js';
import { formatLsn, parseLsn } from './lsn.js';
import { lastLines, sleep } from './process-runner.js';
import { describeSalvage, undecodedSalvage, WaldumpDecoder, type SalvageReport } from './salvage.js';
import { withSslPasswordService } from './service-file.js';
import { withConnection } from './sql.js';
import { parseTimelineHistory } from './timeline-history.js';

/** How many salvage reports are kept (the REST API shows them). */
const SALVAGE_REPORTS_KEPT = 20;

export class Rewinder extends ControllerPart {
  private readonly salvaged: SalvageReport[] = [];

  /** The reports of the WAL discarded by the latest rewinds, oldest first. */
  get salvageReports(): readonly SalvageReport[] {
    return this.salvaged;
  }

  /** Single-user mode replays the WAL and shuts down cleanly (stdin at EOF ends the session). */
  async recoverCrash(signal: AbortSignal | undefined): Promise<void> {
    const { settings, logger } = this.ctx;
    if (this.postmaster.current) throw new PostgresError(PostgresErrorCode.Busy, 'cannot run crash recovery: PostgreSQL is running');
    const control = await this.programs.controlData();
    if (control.clusterState === 'shut down' || control.clusterState === 'shut down in recovery') return;
    logger.info({ state: control.clusterState }, 'doing crash recovery in a single user mode');
    const { params } = await this.config.write();
    // Single-user mode cannot be a standby: the signal files (10, 11: recovery.conf) are rewritten at the next start.
    for (const file of ['standby.signal', 'recovery.signal', 'recovery.conf']) await rm(join(settings.dataDir, file), { force: true });
    const args = ['--single', '-D', settings.dataDir, `--config-file=${settings.confPath}`, '-c', 'archive_mode=off'];
    for (const [name, value] of params.commandLine) if (name !== 'listen_addresses' && name !== 'hot_standby') args.push('-c', `${name}=${value}`);
    args.push('postgres');
    const result = await this.programs.run('postgres', args, { timeoutMs: settings.timeouts.longMs, signal, stdin: '' });
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.TimelineCheckFailed, `crash recovery in single-user mode ${describeRun(result)}: ${lastLines(result.output, 4)}`);
    }
  }

  /** Rewinds the stopped data directory onto `source` and configures it as `source`'s replica. */
  async rewind(source: ReplicationSource, signal: AbortSignal | undefined): Promise<void> {
    const { settings, state, logger, runAs } = this.ctx;
    const from = `${source.name ?? 'the primary'} (${source.host}:${source.port})`;
    if (this.postmaster.current) throw new PostgresError(PostgresErrorCode.RewindImpossible, 'cannot rewind: PostgreSQL is running; stop it first');
    if (!settings.useRewind()) throw new PostgresError(PostgresErrorCode.RewindImpossible, 'cannot rewind: postgresql.use_pg_rewind is off');
    const control = await this.programs.controlData();
    if (!control.dataChecksums && !control.walLogHints) {
      throw new PostgresError(PostgresErrorCode.RewindImpossible, `cannot rewind ${settings.dataDir}: neither data checksums nor wal_log_hints are on`, {
        hint: 'set wal_log_hints: on in the DCS parameters, or initdb with data-checksums',
      });
    }
    if (!control.clusterState?.startsWith('shut down')) await this.recoverCrash(signal);
    await this.waitForSourceCheckpoint(source, signal);
    await this.salvage(source, signal).catch((e: unknown) => logger.warn({ err: describeError(e) }, 'could not tell what pg_rewind will discard'));
    const saved = await this.saveLocalConfigFiles();
    logger.info({ source: from }, `running pg_rewind from ${from}`);
    await this.config.writePgpass({ source, kind: 'rewind' });
    const result = await withSslPasswordService(settings, runAs, 'rewind', (service, env) => {
      const conninfo = settings.sourceConninfo(source, 'rewind', { connect_timeout: 10 }, service);
      const args = [`--target-pgdata=${settings.dataDir}`, `--source-server=${conninfo}`, '--progress'];
      if (settings.recoveryConf().restore_command !== undefined) args.push('--restore-target-wal');
      return this.programs.run('pg_rewind', args, { timeoutMs: settings.timeouts.longMs, signal, env });
    });
    await this.restoreLocalConfigFiles(saved);
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.RewindFailed, `pg_rewind from ${from} ${describeRun(result)}: ${lastLines(result.output, 4)}`);
    }
    state.role = 'replica';
    state.upstream = source;
    await this.config.write();
  }

  /**
   * Before a rewind: the WAL past the point where the source's timeline forked from ours is about
   * to be discarded; decode it and report the committed transactions in it (salvage.ts).
   */
  private async salvage(source: ReplicationSource, signal: AbortSignal | undefined): Promise<void> {
    const { settings, logger } = this.ctx;
    const position = stoppedPosition(await this.programs.controlData());
    if (!position) return;
    const primary = await this.primaryTimeline(source);
    const fork = primary.history.find((e) => e.timeline === position.timeline);
    if (!fork || position.lsn < fork.lsn) return;
    let report: SalvageReport;
    const decoder = new WaldumpDecoder();
    const args = ['-p', join(settings.dataDir, 'pg_wal'), '-t', String(position.timeline), '-s', formatLsn(fork.lsn)];
    try {
      // pg_waldump reads to the end of the valid WAL and then reports the end as an error.
      const result = await this.programs.run('pg_waldump', args, { timeoutMs: settings.timeouts.longMs, signal, onLine: (line) => decoder.line(line) });
      if (decoder.lastLsn === null && result.code !== 0) throw new Error(`pg_waldump ${describeRun(result)}: ${lastLines(result.output, 2)}`);
      const end = Math.max(position.lsn, parseLsn(decoder.lastLsn) ?? 0);
      report = { timeline: position.timeline, from: formatLsn(fork.lsn), to: formatLsn(end), bytes: end - fork.lsn, ...decoder.result(), at: new Date().toISOString() };
    } catch (e) {
      report = undecodedSalvage(position.timeline, fork.lsn, position.lsn, describeError(e));
    }
    this.salvaged.push(report);
    if (this.salvaged.length > SALVAGE_REPORTS_KEPT) this.salvaged.shift();
    logger.warn({ salvage: report }, describeSalvage(report));
  }

  /** The primary's timeline and the history that leads to it, over the replication protocol. */
  private async primaryTimeline(source: ReplicationSource): Promise<{ timeline: number; systemIdentifier: string; history: ReturnType<typeof parseTimelineHistory> }> {
    const { settings } = this.ctx;
    try {
      return await withConnection(settings.sourceTarget(source, 'replication'), settings.timeouts.queryMs * 2, async (client) => {
        const identify = await client.query<{ systemid: string; timeline: string | number }>('IDENTIFY_SYSTEM');
        const row = identify.rows[0];
        const timeline = Number(row?.timeline);
        if (!row || !Number.isInteger(timeline)) throw new Error('IDENTIFY_SYSTEM gave no timeline');
        let history: ReturnType<typeof parseTimelineHistory> = [];
        if (timeline > 1) {
          // The content column is raw file bytes labelled bytea: read it as text, unparsed.
          const raw = { getTypeParser: () => (v: string) => v } as unknown as CustomTypesConfig;
          const res = await client.query<{ content: string }>({ text: `TIMELINE_HISTORY ${timeline}`, types: raw });
          history = parseTimelineHistory(String(res.rows[0]?.content ?? ''));
        }
        return { timeline, systemIdentifier: String(row.systemid), history };
      });
    } catch (e) {
      throw new PostgresError(
        PostgresErrorCode.TimelineCheckFailed,
        `cannot read the timeline of ${source.name ?? 'the primary'} (${source.host}:${source.port}): ${describeError(e)}`,
        { cause: e },
      );
    }
  }

  /**
   * pg_rewind reads the source's timeline from its control file, which changes only at the first
   * checkpoint after promotion: until then it would see "no rewind required". Wait for it (bounded).
   */
  private async waitForSourceCheckpoint(source: ReplicationSource, signal: AbortSignal | undefined): Promise<void> {
    const { settings, logger } = this.ctx;
    const until = Date.now() + settings.pgCtlTimeoutMs;
    const target = { ...settings.sourceTarget(source, 'rewind') };
    while (true) {
      throwIfAborted(signal, 'rewind');
      const [row] = await withConnection(target, settings.timeouts.queryMs, async (c) =>
        (
          await c.query<{ recovery: boolean; checkpoint: number; current: number | null }>(`SELECT pg_catalog.pg_is_in_recovery() AS recovery,
             (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS checkpoint,
             CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
                  ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS current`)
        ).rows,
      ).catch((e: unknown) => {
        throw new PostgresError(PostgresErrorCode.TimelineCheckFailed, `cannot read the checkpoint timeline of ${source.host}:${source.port}: ${describeError(e)}`);
      });
      if (!row || row.recovery || row.current === null || row.checkpoint >= row.current) return;
      if (Date.now() >= until) {
        throw new PostgresError(PostgresErrorCode.TimelineCheckFailed, `${source.host}:${source.port} has not made a checkpoint on timeline ${row.current} yet; cannot rewind`);
      }
      logger.info({ source }, `Waiting for checkpoint on ${source.name ?? source.host} before rewind`);
      await sleep(1000);
    }
  }

  private async saveLocalConfigFiles(): Promise<Map<string, string>> {
    const saved = new Map<string, string>();
    for (const file of ['postgresql.base.conf', 'pg_hba.conf', 'pg_ident.conf']) {
      const path = join(this.ctx.settings.dataDir, file);
      const content = await readFile(path, 'utf8').catch(() => null);
      if (content !== null) saved.set(path, content);
    }
    return saved;
  }

  private async restoreLocalConfigFiles(saved: Map<string, string>): Promise<void> {
    for (const [path, content] of saved) await writeOwnedFile(path, content, { mode: 0o600, owner: this.ctx.runAs });
  }
}
