/**
 * Running the PostgreSQL programs (`postgresql.bin_dir` / `bin_name` name them; settings.ts
 * resolves the paths): the run itself through the process port, the error that says where the
 * program was looked for, and the two facts read from the binaries and the data directory that
 * every part needs: the server version and pg_control (through pg_controldata, or read directly
 * when that program is missing or of another major version).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeRun } from './callbacks.js';
import type { ControllerContext } from './controller-context.js';
import { parseControlData, type ControlData } from './control-data.js';
import { controlFileVersion, parseControlFile } from './control-file.js';
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
  /** The configured pg_controldata's major version (null: not found or not told), per program path. */
  private controldata: { path: string; major: number | null } | null = null;

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

  /**
   * The data directory's pg_control: through pg_controldata when it reads this layout (its major
   * version is the data directory's, or shares its pg_control version), else read by pgha itself
   * (control-file.ts): a bin_dir without pg_controldata, or with another major's, still works.
   */
  async controlData(): Promise<ControlData> {
    const { settings } = this.ctx;
    const file = join(settings.dataDir, 'global', 'pg_control');
    const bytes = await readFile(file).catch(() => null);
    if (bytes && !(await this.controldataReads(bytes))) return readControlFile(file, bytes, `${settings.binary('pg_controldata')} is of another major version`);
    let result: RunResult;
    try {
      result = await this.run('pg_controldata', [settings.dataDir], { timeoutMs: settings.timeouts.queryMs * 2, onLine: () => {} });
    } catch (e) {
      if (bytes && isPostgresError(e, PostgresErrorCode.BinaryNotFound)) return readControlFile(file, bytes, e.message);
      throw e;
    }
    if (result.code !== 0) {
      throw new PostgresError(PostgresErrorCode.DataDirectory, `pg_controldata ${settings.dataDir} ${describeRun(result)}: ${lastLines(result.output, 3)}`);
    }
    return parseControlData(result.output);
  }

  /**
   * Whether the configured pg_controldata reads this pg_control's layout: true when it is of the
   * data directory's major version or of one sharing its pg_control version, or cannot be asked
   * (then running it reports why). pg_controldata prints the file's version number, not its own,
   * so its `--version` decides; asked once per program path.
   */
  private async controldataReads(bytes: Uint8Array): Promise<boolean> {
    const { settings } = this.ctx;
    const path = settings.binary('pg_controldata');
    if (this.controldata?.path !== path) {
      let major: number | null = null;
      try {
        const result = await this.run('pg_controldata', ['--version'], { timeoutMs: settings.timeouts.queryMs * 2, onLine: () => {} });
        const m = /\(PostgreSQL\)\s+(\d+)/.exec(result.output);
        if (result.code === 0 && m) major = Number(m[1]);
      } catch (e) {
        if (!isPostgresError(e, PostgresErrorCode.BinaryNotFound)) throw e;
      }
      this.controldata = { path, major };
    }
    const { major } = this.controldata;
    if (major === null) return true;
    if (major === Math.floor((await this.serverVersion()) / 10000)) return true;
    return CONTROL_VERSION_OF_MAJOR[major] !== undefined && CONTROL_VERSION_OF_MAJOR[major] === controlFileVersion(bytes);
  }
}

/** pg_control_version of each major's binaries (PG_CONTROL_VERSION). */
const CONTROL_VERSION_OF_MAJOR: Readonly<Record<number, number>> = { 10: 1002, 11: 1100, 12: 1201, 13: 1300, 14: 1300, 15: 1300, 16: 1300, 17: 1700, 18: 1800 };

function readControlFile(file: string, bytes: Uint8Array, why: string): ControlData {
  try {
    return parseControlFile(bytes);
  } catch (e) {
    throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot read ${file} (${why}): ${describeError(e)}`, { cause: e });
  }
}
