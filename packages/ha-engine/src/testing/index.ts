// @pgha/ha-engine/testing: the fakes and the simulation harness, for tests only. Kept out of the
// main entry so the agent's bundle carries no fake PostgreSQL and no fake clock.
export * from './fake-clock.js';
export * from './fake-postgres.js';
export * from './simulation.js';
