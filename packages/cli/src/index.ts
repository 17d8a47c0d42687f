// @pgha/cli: pghactl, the patronictl-compatible operator CLI. `runCli` is the whole program; the
// formatter and table drawing are exported for tools that want patronictl's output.
export { runCli, COMMANDS, type CliIo, type CliDependencies } from './main.js';
export { CliError, CliErrorCode, isCliError } from './errors.js';
export { render, type Output, type OutputFormat, type TableOutput } from './output.js';
export { drawTable, type TableSpec } from './table.js';
export { membersTable } from './cluster-view.js';
export { loadCtlConfig, parseDcsUrl, type CtlConfig } from './ctl-config.js';
