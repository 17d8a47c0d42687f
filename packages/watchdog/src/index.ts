// @pgha/watchdog: the Linux watchdog device, a FIFO testing device and its supervisor, and the
// modes (off / automatic / required) the HA loop drives through its WatchdogPort.
export type { WatchdogDevice, WatchdogSupport } from './device.js';
export { WDIOF } from './device.js';
export { WatchdogError, WatchdogErrorCode, isWatchdogError } from './errors.js';
export { watchdogTimeout, timingSlack } from './timing.js';
export type { WatchdogConfig } from './config.js';
export { WatchdogMode, defaultWatchdogConfig, parseWatchdogConfig, parseWatchdogMode } from './config.js';
export type { IoctlRunner, IoctlStep, IoctlResult } from './ioctl.js';
export { pythonIoctlRunner, watchdogIoctlNumbers } from './ioctl.js';
export { DEFAULT_WATCHDOG_DEVICE, linuxWatchdogDevice } from './linux-device.js';
export type { LinuxDeviceOptions } from './linux-device.js';
export { testingWatchdogDevice } from './testing-device.js';
export type { WatchdogLogger, WatchdogOptions, WatchdogState, WatchdogTiming } from './watchdog.js';
export { Watchdog, createWatchdog, defaultDevice } from './watchdog.js';
export type { SupervisorEvent, TestingSupervisor, TestingSupervisorOptions } from './supervisor.js';
export { childrenOf, killPostgres, superviseTestingDevice } from './supervisor.js';
