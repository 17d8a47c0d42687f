/**
 * The contract of one watchdog device driver (Linux `/dev/watchdog`, the FIFO testing device, or
 * none). The `Watchdog` facade (watchdog.ts) holds the mode rules; a device only does I/O.
 *
 * A device is armed from `open()` until `close()`: if it is not kept alive within its timeout
 * meanwhile, it fires (the machine resets, or the testing supervisor kills PostgreSQL). Every
 * method that fails rejects with a `WatchdogError` naming the device.
 */
import { accessSync, constants } from 'node:fs';

/** What `WDIOC_GETSUPPORT` reports. */
export interface WatchdogSupport {
  /** WDIOF_* bits. */
  options: number;
  firmwareVersion: number;
  /** The driver's identity, e.g. `Software Watchdog`. */
  identity: string;
}

/** WDIOF_* option bits from linux/watchdog.h that pgha reads. */
export const WDIOF = {
  SETTIMEOUT: 0x0080,
  MAGICCLOSE: 0x0100,
  KEEPALIVEPING: 0x8000,
} as const;

export interface WatchdogDevice {
  /** The device path, as configured. */
  readonly path: string;
  /** True between a successful `open()` and `close()`. */
  readonly running: boolean;
  /**
   * True when `open()` is expected to succeed (the device exists and is writable). Synchronous
   * and cheap: it is read every HA cycle.
   */
  isHealthy(): boolean;
  /**
   * Opens (and so arms) the device and reads its capabilities. Rejects with
   * `WATCHDOG_DEVICE_MISSING`, `WATCHDOG_NOT_PERMITTED`, `WATCHDOG_BUSY` or
   * `WATCHDOG_NOT_A_WATCHDOG`; on rejection the device is left closed (disarmed when possible).
   */
  open(): Promise<void>;
  /**
   * Checks, without opening (so without arming) the device, that once opened it can be set up
   * completely: whatever issues the ioctls runs. Rejects with `WATCHDOG_IOCTL_UNAVAILABLE`.
   * `required` mode refuses to start then. Optional: a device without it is not checked.
   */
  preflight?(): Promise<void>;
  /** Capabilities read at `open()`. Throws `WATCHDOG_IO` when not open. */
  support(): WatchdogSupport;
  /** Sets the timeout (whole seconds, 1..65535). Rejects with `WATCHDOG_TIMEOUT`. */
  setTimeout(seconds: number): Promise<void>;
  /** The timeout in effect (seconds). Rejects with `WATCHDOG_TIMEOUT`. */
  getTimeout(): Promise<number>;
  /** Resets the timer (writes a byte). Rejects with `WATCHDOG_IO`. */
  keepalive(): Promise<void>;
  /**
   * Disarms and closes: writes the magic character `V`, then closes. A device without
   * MAGICCLOSE keeps running after this. No-op when not open. Rejects with `WATCHDOG_IO`.
   */
  close(): Promise<void>;
  /** A human-readable name for log lines: the identity, firmware and non-default path. */
  describe(): string;
}

/** A device (or the testing FIFO) is healthy while we may write to it: it is there and ours to open. */
export function deviceWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
