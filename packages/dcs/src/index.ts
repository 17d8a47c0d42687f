// @pgha/dcs: the cluster model, Patroni's key layout and JSON, the driver contract, the cluster
// store, the plugin loader and the in-memory driver. The conformance suite is `@pgha/dcs/testing`.
// The shared primitives (Logger, Clock, PghaError, LSN, parseBool) are re-exported, so drivers
// and the layers above import the bottom of the stack from one package.
export * from '@pgha/primitives';
export * from './errors.js';
export * from './cluster-rules.js';
export * from './model.js';
export * from './conn-url.js';
export * from './keys.js';
export type * from './driver.js';
export type * from './store.js';
export * from './codec/index.js';
export * from './json-bounds.js';
export * from './cluster-store.js';
export * from './memory.js';
export * from './loader.js';
