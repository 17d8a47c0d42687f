// @pgha/ha-engine: the HA decisions (a pure `decide`, in core/) and the loop that runs them
// through ports (runtime/). The fakes and the simulation harness are `@pgha/ha-engine/testing`.
export * from './core/actions.js';
export * from './core/snapshot.js';
export * from './core/config.js';
export * from './core/config-bounds.js';
export * from './core/dcs-commands.js';
export * from './core/config-keeper.js';
export * from './core/candidate.js';
export * from './core/failover-readiness.js';
export * from './core/rejoin.js';
export * from './core/decide.js';
export * from './core/slots.js';
export * from './core/member-data.js';
export * from './core/history.js';
export * from './core/lease.js';
export * from './core/long-action-steps.js';
export * from './core/wake-events.js';
export * from './core/wal-position.js';
export * from './core/manual-failover.js';
export * from './core/scheduled-restart.js';
export * from './runtime/peer-status.js';
export * from './runtime/ports.js';
export * from './runtime/deadline.js';
export * from './runtime/safety.js';
export * from './runtime/loop.js';
export * from './core/failsafe-ping.js';
export * from './core/rest-client-tls.js';
