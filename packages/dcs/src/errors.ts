/**
 * Errors raised by DCS drivers and the cluster store. Every error a caller can meet at run time
 * carries a stable `code`; callers branch on the code (`isDcsError(e, 'DCS_UNAVAILABLE')`), never
 * on the message text.
 */
import { PghaError, type PghaErrorOptions } from '@pgha/primitives';

/** The stable error codes of `@pgha/dcs`. */
export const DcsErrorCode = {
  /** The DCS did not answer (connection refused, no quorum, server frozen) or its answer came after the call's deadline. Retryable. */
  Unavailable: 'DCS_UNAVAILABLE',
  /** The driver was closed; the call was not sent. Not retryable. */
  Closed: 'DCS_CLOSED',
  /** The configuration of the DCS section is invalid (names the key path). Not retryable. */
  Config: 'DCS_CONFIG',
  /** No driver could be loaded for the configuration (names what was tried). Not retryable. */
  PluginLoad: 'DCS_PLUGIN_LOAD',
  /** The DCS refused the request for a reason other than a lost race (auth, permission). */
  Rejected: 'DCS_REJECTED',
  /**
   * The key this member would write (its own `members/<name>`) is attached to another live
   * session: a second agent runs with the same `name`. Nothing was written. Not retryable until
   * the other agent stops.
   */
  Conflict: 'DCS_CONFLICT',
} as const;
export type DcsErrorCode = (typeof DcsErrorCode)[keyof typeof DcsErrorCode];

const marker = Symbol.for('@pgha/dcs/DcsError');

export class DcsError extends PghaError<DcsErrorCode> {
  readonly [marker] = true;

  constructor(code: DcsErrorCode, message: string, options: PghaErrorOptions = {}) {
    super(code, message, options);
    this.name = 'DcsError';
  }

  override get isRetryable(): boolean {
    return this.code === DcsErrorCode.Unavailable;
  }
}

/**
 * True when `e` is a DcsError (from any copy of this package), optionally with the given code.
 * Uses a registered symbol rather than `instanceof`, so a third-party driver bundling its own copy
 * of `@pgha/dcs` still raises errors the engine recognises.
 */
export function isDcsError(e: unknown, code?: DcsErrorCode): e is DcsError {
  if (typeof e !== 'object' || e === null || !(marker in e)) return false;
  return code === undefined || (e as DcsError).code === code;
}
