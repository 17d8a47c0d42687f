/**
 * Errors raised by the PostgreSQL controller. Every error an operator can meet carries a stable
 * `code`; callers branch on the code (`isPostgresError(e, 'PG_START_TIMEOUT')`), never on the
 * message. Messages say what failed and where: the config key path, the file, the host.
 */
import { PghaError, type PghaErrorOptions } from '@pgha/primitives';

/** The stable error codes of `@pgha/postgres-controller`. */
export const PostgresErrorCode = {
  /** The `postgresql` or `bootstrap` section is invalid (the message names the key path). */
  Config: 'PG_CONFIG',
  /** A PostgreSQL program (initdb, pg_ctl, postgres, ...) could not be executed: wrong `postgresql.bin_dir` or `bin_name`. */
  BinaryNotFound: 'PG_BINARY_NOT_FOUND',
  /** The data directory cannot be used: unreadable, wrong owner, not a directory, or not empty where it must be. */
  DataDirectory: 'PG_DATA_DIR',
  /** initdb, the custom bootstrap command, post_bootstrap or user creation failed; the data directory was moved aside. */
  BootstrapFailed: 'PG_BOOTSTRAP_FAILED',
  /** The postmaster exited while starting (the message carries its last output lines). */
  StartFailed: 'PG_START_FAILED',
  /** The postmaster did not accept connections within the start timeout; it is left running. */
  StartTimeout: 'PG_START_TIMEOUT',
  /** The postmaster did not stop, even after SIGKILL. */
  StopFailed: 'PG_STOP_FAILED',
  /** The action needs a running postmaster and there is none. */
  NotRunning: 'PG_NOT_RUNNING',
  /** A SQL query failed, or did not answer within its deadline. Retryable. */
  QueryFailed: 'PG_QUERY_FAILED',
  /** The `pre_promote` script exited non-zero or timed out; PostgreSQL was not promoted. */
  PrePromoteFailed: 'PG_PRE_PROMOTE_FAILED',
  /** Promotion was requested but recovery did not end within the timeout. */
  PromoteFailed: 'PG_PROMOTE_FAILED',
  /** Every replica creation method failed; the data directory was cleaned. */
  ReplicaFailed: 'PG_REPLICA_FAILED',
  /** pg_rewind is not allowed (`use_pg_rewind` off) or not possible (no checksums, no wal_log_hints). */
  RewindImpossible: 'PG_REWIND_IMPOSSIBLE',
  /** pg_rewind ran and failed. */
  RewindFailed: 'PG_REWIND_FAILED',
  /**
   * A logical slot cannot be copied to this replica yet: the WAL from the slot's restart position
   * is older than the replica's oldest WAL file. Retryable once the primary's slot moves on.
   */
  SlotCopyNotYet: 'PG_SLOT_COPY_NOT_YET',
  /** Reading the timeline of this server or of the new primary failed. Retryable. */
  TimelineCheckFailed: 'PG_TIMELINE_CHECK_FAILED',
  /** Another lifecycle action (start, stop, bootstrap, ...) is running; actions do not overlap. */
  Busy: 'PG_BUSY',
  /** The caller's AbortSignal fired; the action was cancelled. */
  Aborted: 'PG_ABORTED',
} as const;
export type PostgresErrorCode = (typeof PostgresErrorCode)[keyof typeof PostgresErrorCode];

const marker = Symbol.for('@pgha/postgres-controller/PostgresError');

export class PostgresError extends PghaError<PostgresErrorCode> {
  readonly [marker] = true;

  constructor(code: PostgresErrorCode, message: string, options: PghaErrorOptions = {}) {
    super(code, message, options);
    this.name = 'PostgresError';
  }

  override get isRetryable(): boolean {
    return this.code === PostgresErrorCode.QueryFailed || this.code === PostgresErrorCode.TimelineCheckFailed;
  }
}

/** True when `e` is a PostgresError (from any copy of this package), optionally with the given code. */
export function isPostgresError(e: unknown, code?: PostgresErrorCode): e is PostgresError {
  if (typeof e !== 'object' || e === null || !(marker in e)) return false;
  return code === undefined || (e as PostgresError).code === code;
}

/** The message of any thrown value, for wrapping into a PostgresError. */
export function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Throws PG_ABORTED when `signal` was cancelled, before a step that must not start any more. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new PostgresError(PostgresErrorCode.Aborted, `${what} was cancelled`);
}
