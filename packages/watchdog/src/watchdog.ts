/**
 * The watchdog as the HA loop uses it (structurally the engine's `WatchdogPort`): the modes,
 * the timeout rule and the lifecycle, over one device driver.
 *
 * - `activate()` before this member may become a writable primary: arms the device with
 *   timeout = ttl − safety_margin. It resolves false only in `required` mode when no safe
 *   watchdog could be armed; `automatic` goes on without one, with a warning.
 * - `keepalive()` right after each successful leader-key renewal; it also applies a changed ttl
 *   (re-times the device), so the new timeout starts in step with the renewed key.
 * - `disable()` on demotion, in pause and at a clean shutdown: magic close.
 * - `healthy` is false when `required` cannot be met; peers then skip this member.
 *
 * Log sentences are Patroni's, so the same log alerts keep working.
 */
import { silentLogger, type Logger } from '@pgha/primitives';
import type { WatchdogDevice } from './device.js';
import { WDIOF } from './device.js';
import { WatchdogError, WatchdogErrorCode, isWatchdogError } from './errors.js';
import type { WatchdogConfig } from './config.js';
import { WatchdogMode } from './config.js';
import { linuxWatchdogDevice } from './linux-device.js';
import { testingWatchdogDevice } from './testing-device.js';
import { timingSlack, watchdogTimeout } from './timing.js';

/** A pino-compatible logger: the shared `Logger` of `@pgha/primitives`. */
export type WatchdogLogger = Logger;

const silent: WatchdogLogger = silentLogger;

/** The HA timing the watchdog follows, in seconds; read at each activation and keepalive. */
export interface WatchdogTiming {
  ttl: number;
  loopWait: number;
}

export interface WatchdogOptions {
  config: WatchdogConfig;
  /** The current ttl / loop_wait (the dynamic configuration can change them at any time). */
  timing: () => WatchdogTiming;
  logger?: WatchdogLogger;
  /** Builds the device for a configuration (tests inject fakes); null = no device on this platform. */
  createDevice?: (config: WatchdogConfig) => WatchdogDevice | null;
}

/** What the watchdog is doing, for the API and logs. */
export interface WatchdogState {
  mode: WatchdogMode;
  /** The device is open (armed). */
  active: boolean;
  /** Timeout in effect on the device (seconds), null when not armed. */
  timeout: number | null;
  /** False when `required` cannot be met. */
  healthy: boolean;
  /** Why the last activation did not arm a device, if it did not. */
  lastError: string | null;
}

/** The platform's device for `config`: the FIFO for `driver: testing`, `/dev/watchdog` on Linux, else none. */
export function defaultDevice(config: WatchdogConfig): WatchdogDevice | null {
  if (config.driver === 'testing') return testingWatchdogDevice(config.device);
  if (process.platform === 'linux' && config.driver === 'default') return linuxWatchdogDevice({ path: config.device });
  return null;
}

export class Watchdog {
  readonly #o: Required<Omit<WatchdogOptions, 'config'>>;
  #config: WatchdogConfig;
  #device: WatchdogDevice | null;
  /** The timeout we last asked the device for (seconds), to notice a ttl change. */
  #wantedTimeout: number | null = null;
  #actualTimeout: number | null = null;
  #lastError: string | null = null;
  /** Serialises device I/O: keepalives and re-timing never interleave. */
  #queue: Promise<unknown> = Promise.resolve();

  /** Throws `WATCHDOG_UNSUPPORTED` when `required` on a platform without a watchdog driver. */
  constructor(options: WatchdogOptions) {
    this.#o = { logger: silent, createDevice: defaultDevice, ...options };
    this.#config = options.config;
    this.#device = this.#makeDevice(options.config);
  }

  get mode(): WatchdogMode {
    return this.#config.mode;
  }

  get active(): boolean {
    return this.#device?.running ?? false;
  }

  get healthy(): boolean {
    if (this.#config.mode !== WatchdogMode.Required) return true;
    const { ttl, loopWait } = this.#o.timing();
    return timingSlack(ttl, this.#config.safetyMargin, loopWait) >= 0 && (this.#device?.isHealthy() ?? false);
  }

  state(): WatchdogState {
    return {
      mode: this.#config.mode,
      active: this.active,
      timeout: this.active ? this.#actualTimeout : null,
      healthy: this.healthy,
      lastError: this.#lastError,
    };
  }

  /**
   * At agent start, in `required` mode: a device that is there and writable but could not be set
   * up once opened — the ioctl helper cannot run — is refused now with a WatchdogError
   * (`WATCHDOG_IOCTL_UNAVAILABLE`, device named), so the agent does not start, rather than
   * opening (arming) the device at its first promotion and failing there. A device that is
   * missing or not writable is left to Patroni's rule: the member runs, is `watchdog_failed`, and
   * never leads; it may appear later (`modprobe softdog`). Other modes resolve at once.
   */
  async verify(): Promise<void> {
    if (this.#config.mode !== WatchdogMode.Required) return;
    const device = this.#device;
    if (!device?.preflight || !device.isHealthy()) return;
    try {
      await device.preflight();
    } catch (e) {
      const code = isWatchdogError(e) ? ` (${e.code})` : '';
      this.#o.logger.error(`Configuration requires a watchdog, but ${device.describe()} cannot be set up${code}: ${(e as Error).message}`);
      throw e;
    }
  }

  activate(): Promise<boolean> {
    return this.#serial(() => this.#activate());
  }

  keepalive(): Promise<void> {
    return this.#serial(() => this.#keepalive());
  }

  disable(): Promise<void> {
    return this.#serial(() => this.#disable());
  }

  /**
   * A new `watchdog:` section (SIGHUP). Turning it off disarms at once; a new device or driver
   * is used from the next activation (while armed, the old device is swapped at the next
   * keepalive, so a primary is never left without one in between).
   */
  reconfigure(config: WatchdogConfig): Promise<void> {
    return this.#serial(async () => {
      const before = this.#config;
      this.#config = config;
      if (config.mode === WatchdogMode.Off) {
        await this.#disable();
        this.#device = null;
        return;
      }
      const deviceChanged = before.device !== config.device || before.driver !== config.driver || before.mode === WatchdogMode.Off;
      if (!deviceChanged) return;
      if (!this.active) {
        this.#device = this.#makeDevice(config);
        return;
      }
      await this.#disable();
      this.#device = this.#makeDevice(config);
      await this.#activate();
    });
  }

  // ---- internals -------------------------------------------------------------------------------

  #makeDevice(config: WatchdogConfig): WatchdogDevice | null {
    if (config.mode === WatchdogMode.Off) return null;
    const device = this.#o.createDevice(config);
    if (!device && config.mode === WatchdogMode.Required) {
      const message = 'Configuration requires a watchdog, but watchdog is not supported on this platform.';
      this.#o.logger.error(message);
      throw new WatchdogError(WatchdogErrorCode.Unsupported, `${message} (watchdog.mode: required, platform ${process.platform})`);
    }
    return device;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #activate(): Promise<boolean> {
    const log = this.#o.logger;
    const config = this.#config;
    if (config.mode === WatchdogMode.Off) return true;
    const device = this.#device;
    const required = config.mode === WatchdogMode.Required;
    const { ttl, loopWait } = this.#o.timing();
    const timeout = watchdogTimeout(ttl, config.safetyMargin);
    const slack = timingSlack(ttl, config.safetyMargin, loopWait);

    if (device?.running) {
      // Already armed (a second promotion attempt): just bring it up to date.
      await this.#keepalive();
      return true;
    }

    let actual: number | null = null;
    this.#lastError = null;
    if (slack < 0) {
      this.#lastError = `Watchdog not supported because leader TTL ${ttl} is less than 2x loop_wait ${loopWait}`;
      log.warn(this.#lastError);
    } else if (!device) {
      this.#lastError = 'no watchdog device on this platform';
    } else {
      try {
        await device.open();
        actual = await this.#setTimeout(device, timeout, loopWait);
      } catch (e) {
        this.#lastError = `Could not activate ${device.describe()}: ${(e as Error).message}`;
        log.warn(this.#lastError);
        await this.#closeQuietly(device);
        actual = null;
      }
    }
    const armed = device?.running === true && actual !== null;

    if (armed && !this.#canBeDisabled(device)) {
      log.warn("Watchdog implementation can't be disabled. Watchdog will trigger after Patroni loses leader key.");
    }
    if (!armed || (actual !== null && actual > timeout)) {
      if (required) {
        if (!armed) {
          log.error('Configuration requires watchdog, but watchdog could not be configured.');
        } else {
          const message = `Configuration requires watchdog, but a safe watchdog timeout ${timeout} could not be configured. Watchdog timeout is ${actual}.`;
          this.#lastError = message;
          log.error(message);
          await this.#closeQuietly(device);
        }
        return false;
      }
      if (armed) log.warn(`Watchdog timeout ${actual} seconds does not ensure safe termination within ${timeout} seconds`);
    }
    if (armed && device) {
      this.#wantedTimeout = timeout;
      this.#actualTimeout = actual;
      log.info(`${device.describe()} activated with ${actual} second timeout, timing slack ${slack} seconds`);
    }
    return true;
  }

  /** Sets (when supported) and reads back the timeout; closes and returns null when it cannot cover a loop. */
  async #setTimeout(device: WatchdogDevice, timeout: number, loopWait: number): Promise<number | null> {
    if ((device.support().options & WDIOF.SETTIMEOUT) !== 0) await device.setTimeout(timeout);
    const actual = await device.getTimeout();
    if (actual < loopWait) {
      this.#o.logger.error(`loop_wait of ${loopWait} seconds is too long for watchdog ${actual} second timeout`);
      if (this.#canBeDisabled(device)) {
        this.#o.logger.info('Disabling watchdog due to unsafe timeout.');
        await device.close();
        return null;
      }
    }
    return actual;
  }

  async #keepalive(): Promise<void> {
    const device = this.#device;
    if (!device?.running) return;
    const log = this.#o.logger;
    try {
      await device.keepalive();
      const { ttl, loopWait } = this.#o.timing();
      const timeout = watchdogTimeout(ttl, this.#config.safetyMargin);
      if (timeout !== this.#wantedTimeout) {
        // The ttl changed: re-time now, right after the keepalive that follows a renewal.
        this.#wantedTimeout = timeout;
        const actual = await this.#setTimeout(device, timeout, loopWait);
        if (actual !== null) {
          this.#actualTimeout = actual;
          log.info(`${device.describe()} updated with ${actual} second timeout, timing slack ${timingSlack(ttl, this.#config.safetyMargin, loopWait)} seconds`);
        }
      }
    } catch (e) {
      log.error(`Error while sending keepalive: ${(e as Error).message}`);
    }
  }

  async #disable(): Promise<void> {
    const device = this.#device;
    if (!device?.running) return;
    try {
      if (!this.#canBeDisabled(device)) {
        // It will fire anyway: give the operator a full timeout to clean up first.
        await device.keepalive();
        this.#o.logger.warn(
          `Watchdog implementation can't be disabled. System will reboot after ${await device.getTimeout()} seconds when watchdog times out.`,
        );
      }
      await device.close();
    } catch (e) {
      this.#o.logger.error(`Error while disabling watchdog: ${(e as Error).message}`);
    }
    this.#actualTimeout = null;
    this.#wantedTimeout = null;
  }

  #canBeDisabled(device: WatchdogDevice | null): boolean {
    if (!device?.running) return true;
    return (device.support().options & WDIOF.MAGICCLOSE) !== 0;
  }

  async #closeQuietly(device: WatchdogDevice | null): Promise<void> {
    if (!device?.running) return;
    await device.close().catch((e: unknown) => this.#o.logger.error(`Error while disabling watchdog: ${(e as Error).message}`));
  }
}

export function createWatchdog(options: WatchdogOptions): Watchdog {
  return new Watchdog(options);
}
