// @pgha/primitives: the small types every pgha package shares, below every layer of
// architecture.md so that packages which depend on no other (postgres-controller, watchdog)
// can use them too. Domain rules do not belong here: Patroni's cluster rules are in @pgha/dcs.
export * from './logger.js';
export * from './clock.js';
export * from './error.js';
export * from './lsn.js';
export * from './bool-flag.js';
