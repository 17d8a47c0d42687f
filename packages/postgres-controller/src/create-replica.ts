/**
 * A new replica's data directory: each of `create_replica_methods` in turn (pg_basebackup, or a
 * custom method's command), until one leaves a PostgreSQL data directory. A failed method's
 * leftovers are removed (unless it says `keep_data`) before the next one; when all fail, the data
 * directory is removed.
 */
import { ControllerPart } from './controller-part.js';
import { describeRun, runScript } from './callbacks.js';
import { optionArguments, optionNames, replicaMethodArguments } from './command-arguments.js';
import { methodSettings } from './config.js';
import type { ReplicationSource } from './contract.js';
import { PostgresError, PostgresErrorCode, describeError, isPostgresError, throwIfAborted } from './errors.js';
import { ensureOwnedDirectory, inspectDataDirectoryPath, prepareEmptyDataDirectory, removeTree } from './files.js';
import { lastLines, type RunResult } from './process-runner.js';
import { withSslPasswordService } from './service-file.js';

type MethodSettings = NonNullable<ReturnType<typeof methodSettings>>;

export class ReplicaCreator extends ControllerPart {

  /** Clones `source` (null: only methods with `no_leader` may run) into the empty data directory; leaves it stopped. */
  async run(options: { source: ReplicationSource | null; signal?: AbortSignal | undefined }): Promise<{ method: string }> {
    const { settings, state, logger, runAs } = this.ctx;
    if (this.postmaster.current) throw new PostgresError(PostgresErrorCode.Busy, 'cannot create a replica: PostgreSQL is running');
    await this.programs.serverVersion();
    await prepareEmptyDataDirectory(settings.dataDir, runAs, 'create a replica');
    state.lifecycle = 'creating replica';
    await this.config.writePgpass(options.source ? { source: options.source, kind: 'replication' } : undefined);
    // A standby cluster's `standby_cluster.create_replica_methods` decide how its leader clones the remote primary.
    const methods = options.source?.remote?.createReplicaMethods ?? settings.local.create_replica_methods ?? ['basebackup'];
    const failures: string[] = [];
    for (const method of methods) {
      throwIfAborted(options.signal, 'replica creation');
      const methodConf = method === 'basebackup' ? { no_leader: false } : methodSettings(settings.local as Record<string, unknown>, method);
      if (method !== 'basebackup' && !methodConf?.command) {
        failures.push(`${method}: postgresql.${method}.command is not set`);
        continue;
      }
      if (options.source === null && !methodConf?.no_leader) {
        failures.push(`${method}: needs a running leader to copy from`);
        continue;
      }
      try {
        await this.runMethod(method, methodConf!, options.source, options.signal);
        if ((await inspectDataDirectoryPath(settings.dataDir, runAs)) !== 'initialized') {
          throw new Error(`succeeded but ${settings.dataDir} is not a PostgreSQL data directory`);
        }
        state.role = 'replica';
        state.upstream = options.source;
        await this.config.ensureBaseConf();
        await this.config.write();
        state.lifecycle = 'stopped';
        logger.info({ method, source: options.source }, 'replica created');
        return { method };
      } catch (e) {
        if (isPostgresError(e, PostgresErrorCode.Aborted) || isPostgresError(e, PostgresErrorCode.BinaryNotFound)) {
          await removeTree(settings.dataDir);
          state.lifecycle = 'stopped';
          throw e;
        }
        failures.push(`${method}: ${describeError(e)}`);
        logger.warn({ method, err: describeError(e) }, 'replica creation method failed');
        if (!methodConf?.keep_data) {
          await removeTree(settings.dataDir);
          await ensureOwnedDirectory(settings.dataDir, { mode: 0o700, owner: runAs });
        }
      }
    }
    await removeTree(settings.dataDir);
    state.lifecycle = 'stopped';
    const from = options.source ? ` from ${options.source.name ?? ''}${options.source.name ? ' ' : ''}(${options.source.host}:${options.source.port})` : '';
    throw new PostgresError(PostgresErrorCode.ReplicaFailed, `could not create a replica${from}; the data directory was removed. ${failures.join('; ')}`);
  }

  private async runMethod(method: string, methodConf: MethodSettings, source: ReplicationSource | null, signal: AbortSignal | undefined): Promise<void> {
    const { settings, logger, runAs } = this.ctx;
    const result = await withSslPasswordService(settings, runAs, 'replication', async (service, env): Promise<RunResult> => {
      const conninfo = source ? settings.sourceConninfo(source, 'replication', { application_name: `pgha_${method}`, connect_timeout: 10 }, service) : null;
      if (method !== 'basebackup') {
        const args = replicaMethodArguments(methodConf, { scope: settings.scope, dataDir: settings.dataDir, connstring: conninfo });
        const ran = await runScript(this.ctx.scriptContext(env), `postgresql.${method}`, methodConf.command!, args, { timeoutMs: settings.timeouts.longMs, signal });
        throwIfAborted(signal, 'replica creation');
        return ran;
      }
      const userArgs = optionArguments(settings.local.basebackup);
      const given = optionNames(userArgs);
      const args = [`--pgdata=${settings.dataDir}`, `--dbname=${conninfo}`, '--progress', '--verbose', ...userArgs];
      if (!given.has('wal-method') && !given.has('X')) args.push('--wal-method=stream');
      let lastProgress = 0;
      return this.programs.run('pg_basebackup', args, {
        timeoutMs: settings.timeouts.longMs,
        signal,
        env,
        onLine: (line) => {
          // --progress rewrites one line every second; log it every 5 s.
          const progress = /\d+\/\d+ kB/.test(line);
          if (progress && Date.now() - lastProgress < 5000) return;
          if (progress) lastProgress = Date.now();
          logger.info({ source: 'pg_basebackup' }, line);
        },
      });
    });
    if (result.code !== 0) throw new Error(`${method === 'basebackup' ? 'pg_basebackup' : methodConf.command} ${describeRun(result)}: ${lastLines(result.output, 4)}`);
  }
}
