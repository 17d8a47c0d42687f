/**
 * The last resort: an exception nothing caught, or a rejected promise nobody handled. Node would
 * end the process right there, and PostgreSQL, started detached (`KillMode=process`), would keep
 * running unattended: a primary taking writes while its lock expires and a replica is promoted.
 * So we log, stop PostgreSQL if this member may be a writable primary (immediate, bounded), and
 * exit non-zero, for systemd (`Restart=on-failure`) to start a fresh agent that sorts it out.
 *
 * A replica is left running: it takes no writes, and the next agent adopts it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The exit code after a fault (EX_SOFTWARE): any non-zero code makes systemd restart us. */
export const FAULT_EXIT_CODE = 70;

export interface LastResortOptions {
  logger: { fatal(obj: object, msg: string): void; error(obj: object, msg: string): void; info(msg: string): void };
  /** True when this member holds the lock or runs PostgreSQL as a primary (or cannot tell). */
  mayBePrimary(): boolean;
  /** Stops PostgreSQL now; rejects when it could not. */
  fence(): Promise<void>;
  /** How long fencing may take before we exit anyway. */
  boundMs: number;
  exit(code: number): void;
}

/** Installs the process handlers; returns a function that removes them (tests). */
export function installLastResort(o: LastResortOptions): () => void {
  let handling = false;
  const onFault = (kind: 'uncaughtException' | 'unhandledRejection', fault: unknown) => {
    const err = fault instanceof Error ? { message: fault.message, stack: fault.stack } : { message: String(fault) };
    if (handling) {
      // A fault while fencing: the bound below still ends the process.
      o.logger.error({ err, kind }, 'another fault while handling a fault');
      return;
    }
    handling = true;
    let primary = true;
    try {
      primary = o.mayBePrimary();
    } catch {
      // Cannot tell: fence, the safe side.
    }
    o.logger.fatal({ err, kind }, `${kind}: ${err.message}; ${primary ? 'stopping PostgreSQL (immediate), then exiting' : 'exiting, PostgreSQL (a replica) left running'}`);
    const bound = setTimeout(() => {
      o.logger.error({}, `fencing PostgreSQL did not finish within ${o.boundMs} ms; exiting anyway`);
      o.exit(FAULT_EXIT_CODE);
    }, o.boundMs);
    if (!primary) {
      clearTimeout(bound);
      o.exit(FAULT_EXIT_CODE);
      return;
    }
    o.fence().then(
      () => o.logger.info('PostgreSQL stopped after the fault'),
      (e: unknown) => o.logger.error({ err: { message: e instanceof Error ? e.message : String(e) } }, 'could not stop PostgreSQL after the fault'),
    ).finally(() => {
      clearTimeout(bound);
      o.exit(FAULT_EXIT_CODE);
    });
  };
  const onException = (e: unknown) => onFault('uncaughtException', e);
  const onRejection = (r: unknown) => onFault('unhandledRejection', r);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}

/**
 * Stops PostgreSQL for the last resort: the controller's immediate stop, and if that fails (it
 * refuses while another lifecycle action holds it) SIGQUIT to the postmaster named in
 * `postmaster.pid`, which is PostgreSQL's own immediate shutdown.
 */
export async function fencePostgres(stop: () => Promise<void>, dataDir: string): Promise<void> {
  try {
    await stop();
    return;
  } catch (e) {
    const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
    const pid = Number(text?.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 1) throw e;
    process.kill(pid, 'SIGQUIT');
  }
}

/**
 * Fault injection for tests, off unless `PGHA_FAULT_INJECTION` is set: `uncaughtException` or
 * `unhandledRejection` makes SIGUSR2 raise that fault inside the agent, so a test can check the
 * last resort on a real agent process. Documented in docs/operations.md.
 */
export function installFaultInjection(kind: string | undefined, logger: { warn(msg: string): void }): void {
  if (kind === undefined || kind === '') return;
  if (kind !== 'uncaughtException' && kind !== 'unhandledRejection') {
    logger.warn(`PGHA_FAULT_INJECTION=${kind}: unknown fault, expected uncaughtException or unhandledRejection; ignored`);
    return;
  }
  logger.warn(`PGHA_FAULT_INJECTION=${kind}: SIGUSR2 raises this fault (a test setting; never set it in production)`);
  process.on('SIGUSR2', () => {
    const fault = new Error(`injected ${kind} (PGHA_FAULT_INJECTION)`);
    if (kind === 'uncaughtException') {
      setImmediate(() => {
        throw fault;
      });
    } else {
      void Promise.reject(fault);
    }
  });
}
