/**
 * Errors a user can meet when arming a watchdog. Each has a stable `code`; the message names the
 * device and says what to do about it.
 */
import { PghaError, type PghaErrorOptions } from '@pgha/primitives';

export const WatchdogErrorCode = {
  /** The device file does not exist (no watchdog driver loaded, e.g. softdog). */
  DeviceMissing: 'WATCHDOG_DEVICE_MISSING',
  /** The device exists but the agent's user may not open it for writing. */
  NotPermitted: 'WATCHDOG_NOT_PERMITTED',
  /** The device is held open by another process (only one opener is allowed). */
  Busy: 'WATCHDOG_BUSY',
  /** The file opened but is not a watchdog (WDIOC_GETSUPPORT failed). */
  NotAWatchdog: 'WATCHDOG_NOT_A_WATCHDOG',
  /** ioctls cannot be issued (the helper interpreter is missing or failed). */
  IoctlUnavailable: 'WATCHDOG_IOCTL_UNAVAILABLE',
  /** Setting or reading the timeout failed, or the timeout is out of range. */
  Timeout: 'WATCHDOG_TIMEOUT',
  /** Writing a keepalive or the magic close failed, or the device is closed. */
  Io: 'WATCHDOG_IO',
  /** `required` mode on a platform without a watchdog driver. */
  Unsupported: 'WATCHDOG_UNSUPPORTED',
} as const;
export type WatchdogErrorCode = (typeof WatchdogErrorCode)[keyof typeof WatchdogErrorCode];

export class WatchdogError extends PghaError<WatchdogErrorCode> {
  /** The device path the error is about (null when not about a device). */
  readonly device: string | null;

  constructor(code: WatchdogErrorCode, message: string, options: PghaErrorOptions & { device?: string | null } = {}) {
    super(code, message, options);
    this.name = 'WatchdogError';
    this.device = options.device ?? null;
  }
}

export function isWatchdogError(e: unknown, code?: WatchdogErrorCode): e is WatchdogError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { name?: unknown }).name === 'WatchdogError' &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (code === undefined || (e as { code: unknown }).code === code)
  );
}
