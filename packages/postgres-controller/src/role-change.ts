/**
 * A running server changing role: promotion (pre_promote, pg_promote or, before PostgreSQL 12,
 * the promote file and SIGUSR1; the wait for the end of recovery) and following another upstream (a reload from PostgreSQL 13, a restart before). The
 * callbacks fired are Patroni's: on_role_change when the role the callbacks name changes.
 */
import { ControllerPart } from './controller-part.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeRun, runScript } from './callbacks.js';
import type { ReplicationSource } from './contract.js';
import { PostgresError, PostgresErrorCode, describeError, throwIfAborted } from './errors.js';
import { inspectDataDirectoryPath, writeOwnedFile } from './files.js';
import { lastLines, sleep } from './process-runner.js';

/** How often a promotion in progress checks `pg_is_in_recovery()`. */
const PROMOTE_POLL_MS = 10;

export class RoleChange extends ControllerPart {

  async promote(options: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined }): Promise<void> {
    const { settings, state, session, logger } = this.ctx;
    if (!this.postmaster.current) throw new PostgresError(PostgresErrorCode.NotRunning, 'cannot promote: PostgreSQL is not running');
    const [row] = await session.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r');
    if (row?.r === false) {
      state.role = 'primary';
      return;
    }
    if (settings.local.pre_promote) {
      const result = await runScript(this.ctx.scriptContext(), 'pre_promote', settings.local.pre_promote, [], {
        timeoutMs: settings.timeouts.hookMs,
        signal: options.signal,
      }).catch((e: unknown) => {
        throw new PostgresError(PostgresErrorCode.PrePromoteFailed, `pre_promote script could not be started: ${describeError(e)}`, { cause: e });
      });
      if (result.code !== 0) {
        throw new PostgresError(PostgresErrorCode.PrePromoteFailed, `pre_promote script ${describeRun(result)}; not promoting:\n${lastLines(result.output)}`);
      }
    }
    throwIfAborted(options.signal, 'promote');
    logger.info({}, 'promoting PostgreSQL');
    await this.requestPromotion();
    const until = Date.now() + (options.timeoutMs ?? settings.pgCtlTimeoutMs);
    while (true) {
      const [r] = await session.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r').catch(() => [{ r: true }]);
      if (r?.r === false) break;
      if (Date.now() >= until) {
        throw new PostgresError(PostgresErrorCode.PromoteFailed, `PostgreSQL was asked to promote but was still in recovery after ${Math.round((options.timeoutMs ?? settings.pgCtlTimeoutMs) / 1000)} s`);
      }
      throwIfAborted(options.signal, 'promote');
      // Writes wait on this poll during a failover: end of recovery usually takes tens of ms,
      // so a coarse interval would add up to its own length to every failover.
      await sleep(PROMOTE_POLL_MS);
    }
    state.role = 'primary';
    state.upstream = null;
    await this.config.write();
    this.ctx.callbacks.fire('on_role_change', this.ctx.callbackRole('primary'));
  }

  /**
   * Asks the server to end recovery. pg_promote() exists from PostgreSQL 12; before, it is what
   * `pg_ctl promote` does (as Patroni runs it): a `promote` file in the data directory, then
   * SIGUSR1 to the postmaster, which the startup process takes as the request.
   */
  private async requestPromotion(): Promise<void> {
    const { settings, session, runner, runAs } = this.ctx;
    if ((await this.programs.serverVersion()) >= 120000) {
      await session.query('SELECT pg_catalog.pg_promote(false)');
      return;
    }
    const pm = this.postmaster.current;
    await writeOwnedFile(join(settings.dataDir, 'promote'), '', { mode: 0o600, owner: runAs });
    if (!pm || !runner.signal(pm.pid, 'SIGUSR1')) {
      await rm(join(settings.dataDir, 'promote'), { force: true });
      throw new PostgresError(PostgresErrorCode.NotRunning, 'cannot promote: the postmaster is gone');
    }
  }

  async follow(source: ReplicationSource | null, options: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined }): Promise<void> {
    const { settings, state, runAs } = this.ctx;
    // Patroni: a running replica that becomes the standby leader (or stops being one) fires on_role_change.
    const before = this.postmaster.current && state.role === 'replica' ? this.ctx.callbackRole('replica') : null;
    state.role = 'replica';
    state.upstream = source;
    const roleChanged = before !== null && before !== this.ctx.callbackRole('replica');
    const pm = this.postmaster.current;
    if (!pm) {
      if ((await inspectDataDirectoryPath(settings.dataDir, runAs)) === 'initialized') await this.config.write();
      return;
    }
    if ((await this.programs.serverVersion()) >= 130000) {
      // primary_conninfo and primary_slot_name are reloadable from PostgreSQL 13.
      await this.config.write();
      await this.postmaster.reload(pm);
      if (roleChanged) this.ctx.callbacks.fire('on_role_change', this.ctx.callbackRole('replica'));
      return;
    }
    await this.postmaster.stop({ mode: 'fast', timeoutMs: options.timeoutMs, callback: null });
    await this.postmaster.start({ timeoutMs: options.timeoutMs, signal: options.signal, callback: roleChanged ? 'on_role_change' : 'on_restart' });
  }

  /**
   * Makes the WAL receiver `pid` exit, after checking it is still this server's receiver (a pid
   * read a cycle ago may have been reused). A signal, not pg_terminate_backend: the receiver is
   * an auxiliary process, which that function refuses. The startup process starts a new one.
   */
  async restartWalReceiver(pid: number): Promise<boolean> {
    if (!this.postmaster.current) return false;
    const rows = await this.ctx.session.query<{ pid: number }>('SELECT pid FROM pg_catalog.pg_stat_wal_receiver WHERE pid = $1', [pid]);
    if (rows.length === 0) return false;
    process.kill(pid, 'SIGTERM');
    this.ctx.logger.info({ pid }, 'restarted the WAL receiver');
    return true;
  }
}
