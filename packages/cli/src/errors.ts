/**
 * Errors `pghactl` reports to the operator. Each has a stable `code` (for scripts and tests) and
 * the process exit status patronictl would use: 2 for a command line that cannot be parsed
 * (click's usage errors), 1 for everything else.
 */
import { PghaError, type PghaErrorOptions } from '@pgha/dcs';

/** The stable error codes of `@pgha/cli`. */
export const CliErrorCode = {
  /** The command line is malformed: unknown command or option, missing or bad value. Exit 2. */
  Usage: 'CLI_USAGE',
  /** The configuration file or DCS URL is unusable (names the file or key). */
  Config: 'CLI_CONFIG',
  /** The DCS did not answer or refused the request (names the DCS). */
  Dcs: 'CLI_DCS',
  /** A cluster, member or value named on the command line does not exist. */
  NotFound: 'CLI_NOT_FOUND',
  /** A member's REST API refused the request or did not answer (names the member and URL). */
  Api: 'CLI_API',
  /** Input was needed but stdin was closed, or the operator answered no. */
  Aborted: 'CLI_ABORTED',
  /** The request is valid but the cluster's state does not allow it (already paused, no leader, ...). */
  Refused: 'CLI_REFUSED',
  /** A SQL statement run by `query` failed. */
  Query: 'CLI_QUERY',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

export class CliError extends PghaError<CliErrorCode> {
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string, options: PghaErrorOptions = {}) {
    super(code, message, options);
    this.name = 'CliError';
    this.exitCode = code === CliErrorCode.Usage ? 2 : 1;
  }
}

export function isCliError(e: unknown, code?: CliErrorCode): e is CliError {
  return e instanceof CliError && (code === undefined || e.code === code);
}
