/**
 * What the controller's parts share. Each part owns the state only it changes (the postmaster it
 * tracks, the parameters last written, the server version, ...); the few facts several parts
 * change — the lifecycle, the action in progress, the role and the upstream — live in one
 * `ControllerState`, so who may change them is visible where each part is built.
 */
import type { PostgresqlSection, BootstrapSection, DynamicPostgresql } from './config.js';
import type { LifecycleState, ReplicationSource } from './contract.js';
import { CallbackExecutor, type ScriptContext } from './callbacks.js';
import { PostgresError, PostgresErrorCode } from './errors.js';
import type { RunAs } from './files.js';
import { silentLogger, type Logger } from './logger.js';
import { createNodeProcessRunner, type ProcessRunner } from './process-runner.js';
import { ControllerSettings } from './settings.js';
import { LocalSession } from './sql.js';

export class ControllerState {
  /** What `state()` reports as `lifecycle`. */
  lifecycle: LifecycleState = 'stopped';
  /**
   * The role the server is configured for: postgresql.conf and the signal files are written for
   * it, and callbacks name it. Running, the server's own answer (pg_is_in_recovery) is what
   * `state()` reports.
   */
  role: 'primary' | 'replica' = 'replica';
  /** Whom a replica streams from (primary_conninfo); null for a primary, or a replica with no source. */
  upstream: ReplicationSource | null = null;
  private action: string | null = null;

  /** The lifecycle action in progress (`start`, `promote`, ...), or null. */
  get busy(): string | null {
    return this.action;
  }

  /**
   * Runs `fn` as the one lifecycle action in progress; refused with PG_BUSY while another runs
   * (the engine runs one long action at a time, so a second one is a bug or a race to report).
   */
  async exclusive<T>(action: string, fn: () => Promise<T>): Promise<T> {
    if (this.action !== null) {
      throw new PostgresError(PostgresErrorCode.Busy, `cannot ${action}: ${this.action} is in progress`);
    }
    this.action = action;
    try {
      return await fn();
    } finally {
      this.action = null;
    }
  }
}

/** The services every part uses; built once per controller. */
export interface ControllerContext {
  readonly settings: ControllerSettings;
  readonly state: ControllerState;
  readonly runner: ProcessRunner;
  readonly logger: Logger;
  /** The OS user PostgreSQL runs as, when the agent runs as root. */
  readonly runAs: RunAs | undefined;
  /** The agent's long-lived connection to its own server. */
  readonly session: LocalSession;
  readonly callbacks: CallbackExecutor;
  /** How a user script runs: as the PostgreSQL user, with PGPASSFILE and `env` set. */
  scriptContext(env?: Record<string, string>): ScriptContext;
  /** The role callbacks are given: Patroni's name for the primary, and `standby_leader` for a replica of a remote primary. */
  callbackRole(role: 'primary' | 'replica'): string;
}

export interface ContextInput {
  name: string;
  scope: string;
  postgresql: PostgresqlSection;
  bootstrap?: BootstrapSection | undefined;
  dynamic?: DynamicPostgresql | undefined;
  runner?: ProcessRunner | undefined;
  logger?: Logger | undefined;
  runAs?: RunAs | undefined;
  queryTimeoutMs?: number | undefined;
  hookTimeoutMs?: number | undefined;
  callbackTimeoutMs?: number | undefined;
  longCommandTimeoutMs?: number | undefined;
  adoptedPollMs?: number | undefined;
  primaryRoleName?: string | (() => string) | undefined;
}

/** Applies the defaults of PostgresControllerOptions and builds the shared services. No I/O. */
export function createControllerContext(options: ContextInput): ControllerContext {
  const runner = options.runner ?? createNodeProcessRunner();
  const logger = options.logger ?? silentLogger;
  const runAs = options.runAs;
  const state = new ControllerState();
  const callbackMs = options.callbackTimeoutMs ?? 600_000;
  const settings = new ControllerSettings({
    name: options.name,
    scope: options.scope,
    postgresql: options.postgresql,
    dynamic: options.dynamic,
    bootstrap: options.bootstrap,
    primaryRoleName: options.primaryRoleName ?? 'primary',
    timeouts: {
      queryMs: options.queryTimeoutMs ?? 5000,
      hookMs: options.hookTimeoutMs ?? 60_000,
      callbackMs,
      longMs: options.longCommandTimeoutMs ?? 3_600_000,
      adoptedPollMs: options.adoptedPollMs ?? 100,
    },
  });
  const scriptContext = (env: Record<string, string> = {}): ScriptContext => {
    const pgpass = () => settings.pgpassPath;
    return {
      runner,
      logger,
      runAs,
      // Read at each run: the .pgpass place is decided at its first write.
      get env() {
        return { PGPASSFILE: pgpass(), ...env };
      },
    };
  };
  return {
    settings,
    state,
    runner,
    logger,
    runAs,
    session: new LocalSession(() => settings.localTarget(), settings.timeouts.queryMs),
    callbacks: new CallbackExecutor(scriptContext(), () => settings.local.callbacks ?? {}, options.scope, callbackMs),
    scriptContext,
    // The upstream is read at each call: a standby leader's role follows whom it streams from.
    callbackRole: (role) => settings.roleForCallbacks(role, state.upstream),
  };
}
