// @pgha/ha-engine: the HA decisions (a pure `decide`), the loop that runs them through ports,
// and a simulation harness for trying rules against scenarios.
export * from './actions.js';
export * from './snapshot.js';
export * from './config.js';
export * from './config-bounds.js';
export * from './dcs-commands.js';
export * from './config-keeper.js';
export * from './candidate.js';
export * from './failover-readiness.js';
export * from './rejoin.js';
export * from './decide.js';
export * from './slots.js';
export * from './member-data.js';
export * from './history.js';
export * from './peer-status.js';
export * from './ports.js';
export * from './deadline.js';
export * from './safety.js';
export * from './loop.js';
export * from './failsafe-ping.js';
export * from './fake-clock.js';
export * from './fake-postgres.js';
export * from './simulation.js';
export * from './rest-client-tls.js';
