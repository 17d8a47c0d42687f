// The Logger is defined once, in @pgha/primitives (postgres-controller and watchdog use it too);
// re-exported here because drivers and the layers above reach it through @pgha/dcs.
export { silentLogger, type Logger } from '@pgha/primitives';
