// @pgha/dcs/testing: the suites every DCS driver runs (a third party's too), with vitest.
// `describeDriverConformance` needs only a way to make drivers; `describeDriverFaults` also
// needs control of the store's server (freeze, stop, start).
export { describeDriverConformance } from './conformance.js';
export type { ConformanceTarget, MakeDriverOptions } from './context.js';
export { describeDriverFaults, type FaultTarget } from './faults.js';
