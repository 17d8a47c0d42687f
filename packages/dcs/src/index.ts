// @pgha/dcs: the cluster model, Patroni's key layout and JSON, the driver contract.
export * from './errors.js';
export * from './clock.js';
export * from './logger.js';
export * from './model.js';
export * from './keys.js';
export type * from './driver.js';
export type * from './store.js';
