/**
 * The logging surface the controller uses: a structural subset of pino's logger (the same shape
 * as `@pgha/dcs`'s Logger, redeclared because this package sits beside `dcs`, not above it).
 */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
