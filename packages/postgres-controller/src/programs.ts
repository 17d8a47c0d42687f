/**
 * Running the PostgreSQL programs (`postgresql.bin_dir` / `bin_name` name them; settings.ts
 * resolves the paths): the run itself through the process port, the error that says where the
 * program was looked for, and the two facts read from the binaries and the data directory that
 * every part needs: the server version and pg_control.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeRun } from './callbacks.js';
import type { ControllerContext } from './controller-context.js';
import { parseControlData, type ControlData } from './control-data.js';
import { PostgresError, PostgresErrorCode, describeError, isPostgresError } from './errors.js';
import { lastLines, type RunResult } from './process-runner.js';
import type { PostgresProgram } from './settings.js';

export interface ProgramRunOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  env?: Record<string, string>;
  stdin?: string;
  /** Default: each line is logged at info, tagged with the program's name. */
  onLine?: (line: string) => void;
}

export class Programs {
  private readonly ctx: ControllerContext;
  /** PG_VERSION's major, or `postgres --version`: fixed for the binaries and the data directory. */
  private versionNum: number | null = null;

  constructor(ctx: ControllerContext) {
    this.ctx = ctx;
  }

  /**
   * Runs `name` to completion as the PostgreSQL user, in the C locale (its output is parsed).
   * Rejects with PG_ABORTED when cancelled, PG_BINARY_NOT_FOUND when it cannot be started.
   */
  async run(name: PostgresProgram, args: string[], opts: ProgramRunOptions): Promise<RunResult> {
    const { settings, runner, logger, runAs } = this.ctx;
    const path = settings.binary(name);
    logger.debug({ command: path, args }, `running ${name}`);
    try {
      const result = await runner.run(path, args, {
        uid: runAs?.uid,
        gid: runAs?.gid,
        env: { LC_ALL: 'C', PGPASSFILE: settings.pgpassPath, ...opts.env },
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
        stdin: opts.stdin,
        onLine: opts.onLine ?? ((line) => logger.info({ source: name }, line)),
      });
      if (result.aborted) throw new PostgresError(PostgresErrorCode.Aborted, `${name} was cancelled`);
      return result;
    } catch (e) {
      if (isPostgresError(e)) throw e;
      throw this.notStarted(path, e);
    }
  }

  /** PG_BINARY_NOT_FOUND for a program at `path` that could not be started, naming where it was looked for. */
  notStarted(path: string, e: unknown): PostgresError {
    const { settings } = this.ctx;
    const code = (e as NodeJS.ErrnoException).code;
    const where = settings.local.bin_dir !== undefined ? `postgresql.bin_dir = ${settings.local.bin_dir}` : 'PATH; set postgresql.bin_dir';
    const what = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : `could not be run (${describeError(e)})`;
    return new PostgresError(PostgresErrorCode.BinaryNotFound, `PostgreSQL program ${path} ${what} (${where})`, { cause: e });
  }

  /** `server_version_num` (e.g. 160004), from the data directory when there is one, else from the binaries. */
  async serverVersion(): Promise<number> {
    if (this.versionNum !== null) return this.versionNum;
    const { settings } = this.ctx;
    try {
      const major = Number((await readFile(join(settings.dataDir, 'PG_VERSION'), 'utf8')).trim());
      if (Number.isInteger(major) && major > 0) return major * 10000;
    } catch {
      // no data directory yet: ask the binaries
    }
    const result = await this.run('postgres', ['--version'], { timeoutMs: settings.timeouts.queryMs * 2 });
    const m = /(\d+)(?:\.(\d+))?/.exec(result.output);
    if (result.code !== 0 || !m) {
      throw new PostgresError(PostgresErrorCode.BinaryNotFound, `${settings.binary('postgres')} --version did not print a version: ${lastLines(result.output, 2)}`);
    }
    this.versionNum = Number(m[1]) * 10000 + Number(m[2] ?? 0);
    return this.versionNum;
  }

  /** The data directory's pg_control, through pg_controldata. */
  async controlData(): Promise<ControlData> {
    const { settings } = this.ctx;
    const result = await this.run('pg_controldata', [settings.dataDir], { timeoutMs: settings.timeouts.queryMs * 2, onLine: () => {} });
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.DataDirectory, `pg_controldata ${settings.dataDir} ${describeRun(result)}: ${lastLines(result.output, 3)}`);
    }
    return parseControlData(result.output);
  }
}
