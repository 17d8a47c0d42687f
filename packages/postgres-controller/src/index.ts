// @pgha/postgres-controller: everything pgha does to the local PostgreSQL server.
export type * from './contract.js';
export { createPostgresController, type PostgresControllerOptions, type PrimaryRoleName } from './controller.js';
export {
  authenticationSchema,
  bootstrapSectionSchema,
  callbacksSchema,
  dynamicPostgresqlSchema,
  methodSettingsSchema,
  parseSection,
  postgresqlSectionSchema,
  type Authentication,
  type BootstrapSection,
  type Callbacks,
  type DynamicPostgresql,
  type MethodSettings,
  type ParameterValue,
  type PostgresqlSection,
} from './config.js';
export { PostgresError, PostgresErrorCode, isPostgresError } from './errors.js';
export type { Logger } from './logger.js';
export { createNodeProcessRunner, type ProcessRunner, type RunOptions, type RunResult, type RunningProcess, type SpawnOptions, type OutputStream } from './process-runner.js';
export type { RunAs, DataDirectoryKind } from './files.js';
export { formatLsn, parseLsn } from './lsn.js';
export type { SlotState } from './slot-state.js';
export { formatSynchronousStandbyNames, quoteStandbyName, type SynchronousStandbySpec } from './synchronous-standby.js';
export { parseTimelineHistory, type TimelineSwitch } from './timeline-history.js';
export { DCS_ONLY_PARAMETERS, isParameterName } from './parameters.js';
export { sanitizeDynamicPostgresql } from './dynamic-section.js';
export { CALLBACK_ACTIONS, type CallbackAction } from './callbacks.js';
export type { ControlData } from './control-data.js';
export { describeSalvage, parseWaldump, type SalvageReport, type SalvagedRelation } from './salvage.js';
export { parseConninfo } from './conninfo.js';
