/**
 * The logging surface libraries use: a structural subset of pino's logger, so the agent can pass a
 * pino instance and tests can pass a recorder. Libraries never import pino themselves. A library
 * that logs only some levels asks for `Pick<Logger, ...>`, never for a shape of its own.
 */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
