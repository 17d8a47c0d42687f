/**
 * The base of every error a user can meet at run time. Each package declares its own closed set
 * of codes (`DCS_UNAVAILABLE`, `PG_START_TIMEOUT`, ...) and a subclass that narrows `code` to it;
 * callers branch on the code with the package's guard (`isDcsError(e, code)`), never on the
 * message. Programmer errors stay plain `Error`.
 */

const marker: unique symbol = Symbol.for('@pgha/primitives/PghaError');

export interface PghaErrorOptions {
  cause?: unknown;
  /** What the user can do about it, when there is something to say. */
  hint?: string;
}

export class PghaError<Code extends string = string> extends Error {
  /** Stable across releases: scripts, tests and the REST API's status table key on it. */
  readonly code: Code;
  /** What the user can do about it, when there is something to say. */
  readonly hint: string | undefined;
  readonly [marker] = true;

  constructor(code: Code, message: string, options: PghaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PghaError';
    this.code = code;
    this.hint = options.hint;
  }

  /** Whether trying the same call again may succeed; subclasses say which of their codes are. */
  get isRetryable(): boolean {
    return false;
  }
}

/**
 * True when `e` is a PghaError of any package (and from any copy of this package), optionally
 * with the given code. Uses a registered symbol rather than `instanceof`, so an error raised by a
 * third-party driver that bundles its own copy is still recognised.
 */
export function isPghaError(e: unknown, code?: string): e is PghaError {
  if (typeof e !== 'object' || e === null || !(marker in e)) return false;
  return code === undefined || (e as PghaError).code === code;
}
