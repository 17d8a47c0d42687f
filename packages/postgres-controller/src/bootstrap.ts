/**
 * A new cluster: initdb, or a custom bootstrap method (`bootstrap.method` with its command and
 * optional recovery_conf), then the first start, the roles pgha needs, `bootstrap.users` and
 * post_bootstrap. A failure leaves no half-made data directory in place: it is removed when this
 * run created it, else moved aside.
 */
import { ControllerPart } from './controller-part.js';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRun, runScript } from './callbacks.js';
import { bootstrapMethodArguments, optionArguments } from './command-arguments.js';
import { methodSettings } from './config.js';
import { connectionUrl } from './conninfo.js';
import { PostgresError, PostgresErrorCode, describeError, isPostgresError, throwIfAborted } from './errors.js';
import { inspectDataDirectoryPath, moveAside, prepareEmptyDataDirectory, removeTree, writeOwnedFile } from './files.js';
import { renderParameterValue } from './parameters.js';
import { lastLines, sleep } from './process-runner.js';
import { withConnection } from './sql.js';

type MethodSettings = NonNullable<ReturnType<typeof methodSettings>>;

export class Bootstrap extends ControllerPart {

  /** Bootstraps into an empty (or missing) data directory and leaves the new primary running. */
  async run(options: { signal?: AbortSignal | undefined }): Promise<{ systemIdentifier: string }> {
    const { settings, state, session, runAs } = this.ctx;
    const method = settings.bootstrap.method ?? 'initdb';
    const custom = method !== 'initdb';
    const methodConf = custom ? methodSettings(settings.bootstrap as Record<string, unknown>, method) : undefined;
    if (custom && !methodConf?.command) {
      throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: bootstrap.${method}.command is not set (bootstrap.method = ${method})`);
    }
    await this.programs.serverVersion(); // a wrong bin_dir fails here, before anything is written
    const created = await prepareEmptyDataDirectory(settings.dataDir, runAs, 'bootstrap');
    state.role = 'primary';
    state.upstream = null;
    state.lifecycle = custom ? 'running custom bootstrap script' : 'initializing new cluster';
    let step = custom ? `custom bootstrap method ${method}` : 'initdb';
    try {
      if (custom) {
        settings.trustLocalSuperuser = true;
        await this.runCustomBootstrap(method, methodConf!, options.signal);
      } else {
        await this.runInitdb(options.signal);
      }
      step = 'configuration';
      await this.config.ensureBaseConf();
      if (settings.configuredHbaLines() === undefined && settings.bootstrap.pg_hba?.length) {
        const hbaPath = join(settings.dataDir, 'pg_hba.conf');
        const initial = await readFile(hbaPath, 'utf8').catch(() => '');
        await writeOwnedFile(hbaPath, `${initial.trimEnd()}\n${settings.bootstrap.pg_hba.join('\n')}\n`, { mode: 0o600, owner: runAs });
      }
      step = 'start';
      if (custom && methodConf?.recovery_conf) {
        state.lifecycle = 'starting after custom bootstrap';
        const recovery = Object.fromEntries(Object.entries(methodConf.recovery_conf).map(([k, v]) => [k, renderParameterValue(v)]));
        recovery.recovery_target_action ??= 'promote';
        await this.postmaster.start({ timeoutMs: settings.timeouts.longMs, signal: options.signal, callback: null, recovery });
        await this.waitForEndOfRecovery(options.signal);
        await this.config.write();
      } else {
        if (custom && !methodConf?.keep_existing_recovery_conf) {
          for (const file of ['recovery.signal', 'recovery.conf']) await rm(join(settings.dataDir, file), { force: true });
        }
        await this.postmaster.start({ timeoutMs: settings.pgCtlTimeoutMs, signal: options.signal, callback: null });
      }
      step = 'creating roles';
      await this.createRoles(custom);
      if (settings.trustLocalSuperuser) {
        // The superuser has its configured password now: drop the trust line.
        settings.trustLocalSuperuser = false;
        const { hbaChanged } = await this.config.write();
        if (hbaChanged) await session.query('SELECT pg_catalog.pg_reload_conf()');
      }
      step = 'post_bootstrap';
      await this.runPostBootstrap(options.signal);
      const [row] = await session.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()');
      state.lifecycle = 'running';
      this.ctx.callbacks.fire('on_start', this.ctx.callbackRole('primary'));
      return { systemIdentifier: row?.id ?? '' };
    } catch (e) {
      settings.trustLocalSuperuser = false;
      const where = await this.abandon(created);
      state.lifecycle = custom ? 'custom bootstrap failed' : 'initdb failed';
      if (isPostgresError(e, PostgresErrorCode.Aborted)) throw e;
      throw new PostgresError(PostgresErrorCode.BootstrapFailed, `bootstrap failed during ${step}: ${describeError(e)}${where}`, { cause: e });
    }
  }

  /** After a failed bootstrap: stop what was started and get the data directory out of the way. */
  private async abandon(created: 'created' | 'existed'): Promise<string> {
    const { settings, logger, runAs } = this.ctx;
    if (this.postmaster.current) {
      await this.postmaster.stop({ mode: 'immediate', timeoutMs: 10_000, callback: null }).catch((e: unknown) =>
        logger.error({ err: describeError(e) }, 'could not stop PostgreSQL after a failed bootstrap'),
      );
    }
    const kind = await inspectDataDirectoryPath(settings.dataDir, runAs).catch(() => 'foreign' as const);
    if (kind === 'missing') return '';
    if (kind === 'empty') {
      if (created === 'created') await removeTree(settings.dataDir);
      return '';
    }
    const moved = await moveAside(settings.dataDir, 'failed');
    logger.error({ dataDir: settings.dataDir, movedTo: moved }, 'moved the data directory of the failed bootstrap aside');
    return `; the data directory was moved to ${moved}`;
  }

  private async runInitdb(signal: AbortSignal | undefined): Promise<void> {
    const { settings, runAs } = this.ctx;
    const su = settings.auth('superuser');
    const args = ['-D', settings.dataDir, `--username=${settings.superuserName()}`, ...optionArguments(settings.bootstrap.initdb)];
    let pwdir: string | undefined;
    if (su?.password !== undefined) {
      // In a fresh 0700 directory with an unpredictable name: another user cannot take the name first.
      pwdir = await mkdtemp(join(tmpdir(), 'pgha-initdb-'));
      if (runAs) await chown(pwdir, runAs.uid, runAs.gid);
      const pwfile = join(pwdir, 'pwfile');
      await writeOwnedFile(pwfile, `${su.password}\n`, { mode: 0o600, owner: runAs });
      args.push(`--pwfile=${pwfile}`);
    }
    try {
      const result = await this.programs.run('initdb', args, { timeoutMs: settings.timeouts.longMs, signal });
      if (result.code !== 0) throw new Error(`initdb ${describeRun(result)}:\n${lastLines(result.output)}`);
    } finally {
      if (pwdir) await rm(pwdir, { recursive: true, force: true });
    }
  }

  private async runCustomBootstrap(method: string, methodConf: MethodSettings, signal: AbortSignal | undefined): Promise<void> {
    const { settings, runAs } = this.ctx;
    await this.config.writePgpass();
    const args = bootstrapMethodArguments(methodConf, { scope: settings.scope, dataDir: settings.dataDir });
    const result = await runScript(this.ctx.scriptContext(), `bootstrap.${method}`, methodConf.command!, args, { timeoutMs: settings.timeouts.longMs, signal }).catch(
      (e: unknown) => {
        throw new Error(`bootstrap.${method}.command could not be started: ${describeError(e)}`);
      },
    );
    throwIfAborted(signal, 'bootstrap');
    if (result.code !== 0) throw new Error(`bootstrap.${method}.command ${describeRun(result)}:\n${lastLines(result.output)}`);
    if ((await inspectDataDirectoryPath(settings.dataDir, runAs)) !== 'initialized') {
      throw new Error(`bootstrap.${method}.command succeeded but ${settings.dataDir} is not a PostgreSQL data directory`);
    }
  }

  private async waitForEndOfRecovery(signal: AbortSignal | undefined): Promise<void> {
    const until = Date.now() + this.ctx.settings.timeouts.longMs;
    while (Date.now() < until) {
      throwIfAborted(signal, 'bootstrap');
      const [r] = await this.ctx.session.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r').catch(() => [{ r: true }]);
      if (r?.r === false) return;
      if (!this.postmaster.current) throw new Error('PostgreSQL exited during recovery after the custom bootstrap');
      await sleep(500);
    }
    throw new Error('recovery after the custom bootstrap did not end in time');
  }

  /**
   * The replication and rewind roles, the superuser's password after a custom bootstrap, and
   * `bootstrap.users`. Statements are built server-side with format(%I, %L) so names and passwords
   * are quoted by PostgreSQL, and statement logging is off in that session so passwords stay out
   * of the server log.
   */
  private async createRoles(custom: boolean): Promise<void> {
    const { settings } = this.ctx;
    await withConnection(settings.localTarget(), settings.timeouts.queryMs * 4, async (client) => {
      await client.query("SET log_statement TO 'none'; SET log_min_duration_statement TO -1; SET log_min_error_statement TO 'panic'");
      const run = async (template: string, name: string, password: string | undefined) => {
        const { rows } = await client.query<{ sql: string }>(`SELECT format($1, $2::text, $3::text) AS sql`, [template, name, password ?? null]);
        await client.query(rows[0]!.sql);
      };
      const ensure = async (name: string, password: string | undefined, attributes: string) => {
        const { rows } = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [name]);
        const verb = rows.length > 0 ? 'ALTER' : 'CREATE';
        await run(`${verb} ROLE %I WITH ${attributes}${password !== undefined ? ' PASSWORD %L' : ''}`, name, password);
      };
      const su = settings.auth('superuser');
      if (custom && su?.password !== undefined) await ensure(settings.superuserName(), su.password, 'SUPERUSER LOGIN');
      const repl = settings.auth('replication');
      if (repl?.username && repl.username !== settings.superuserName()) await ensure(repl.username, repl.password, 'REPLICATION LOGIN');
      const rewind = settings.auth('rewind');
      if (rewind?.username && rewind.username !== settings.superuserName()) {
        await ensure(rewind.username, rewind.password, 'LOGIN');
        for (const fn of [
          'pg_catalog.pg_ls_dir(text, boolean, boolean)',
          'pg_catalog.pg_stat_file(text, boolean)',
          'pg_catalog.pg_read_binary_file(text)',
          'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
        ]) {
          await run(`GRANT EXECUTE ON FUNCTION ${fn} TO %I`, rewind.username, undefined);
        }
      }
      for (const [name, user] of Object.entries(settings.bootstrap.users ?? {})) {
        const options = (user.options ?? []).map((o) => o.trim().toUpperCase());
        const bad = options.find((o) => !/^[A-Z_][A-Z0-9_ ]*$/.test(o));
        if (bad !== undefined) throw new Error(`bootstrap.users.${name}.options: "${bad}" is not a role option`);
        await ensure(name, user.password, ['LOGIN', ...options].join(' '));
      }
    });
  }

  private async runPostBootstrap(signal: AbortSignal | undefined): Promise<void> {
    const { settings } = this.ctx;
    const script = settings.bootstrap.post_bootstrap ?? settings.bootstrap.post_init;
    if (!script) return;
    const key = settings.bootstrap.post_bootstrap ? 'bootstrap.post_bootstrap' : 'bootstrap.post_init';
    const target = settings.localTarget();
    const url = connectionUrl({ user: target.user, host: target.host, port: target.port });
    await this.config.writePgpass();
    const result = await runScript(this.ctx.scriptContext(), key, script, [url], { timeoutMs: settings.timeouts.longMs, signal }).catch((e: unknown) => {
      throw new Error(`${key} script ${script} could not be started: ${describeError(e)}`);
    });
    throwIfAborted(signal, 'bootstrap');
    if (result.code !== 0) throw new Error(`${key} script ${script} ${describeRun(result)}:\n${lastLines(result.output)}`);
  }
}
