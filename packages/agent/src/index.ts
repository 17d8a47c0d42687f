// @pgha/agent: the composition of the pgha libraries into the `pgha` agent.
export { loadAgentConfig, startAgent, splitHostPort, type RunningAgent } from './agent.js';
export { buildApiSnapshot } from './api-snapshot.js';
export { adaptPostgresController } from './adapters/postgres-port.js';
export { createLogger, createLogging, formatPlainLine, logSettingsOf, type Logging } from './logging/index.js';
export * from './config/schema.js';
export { applyEnvironment } from './config/environment.js';
export { readConfigSource } from './config/source.js';
export { PGHA_VERSION, PATRONI_COMPATIBLE_VERSION } from './version.js';
