// @pgha/rest-api: the Patroni-compatible REST API.
export * from './state.js';
export * from './health.js';
export * from './switchover.js';
export * from './config-endpoint.js';
export * from './local-actions.js';
export * from './cluster-view.js';
export * from './metrics.js';
export * from './access.js';
export * from './rate-limit.js';
export * from './server.js';
export * from './member-hosts.js';
export * from './decisions-endpoint.js';
export * from './decision-metrics.js';
