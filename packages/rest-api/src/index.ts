// @pgha/rest-api: the Patroni-compatible REST API.
export * from './state.js';
export * from './health.js';
export * from './switchover.js';
export * from './server.js';
