// @pgha/dcs: the cluster model, Patroni's key layout and JSON, the driver contract, the cluster
// store, the plugin loader and the in-memory driver. The conformance suite is `@pgha/dcs/testing`.
export * from './errors.js';
export * from './clock.js';
export * from './logger.js';
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
