/**
 * The testing device (`watchdog.driver: testing`): a FIFO standing in for `/dev/watchdog`, with
 * the same byte protocol as Patroni's test harness so either agent can drive the same
 * supervisor. The ioctls become writes: `Ctimeout=<seconds>\n` sets the timeout, `1` is a
 * keepalive, `V` is the magic close. The supervisor (supervisor.ts) reads the FIFO and fences
 * PostgreSQL when keepalives stop, which a test can observe without a kernel watchdog.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { deviceWritable, WDIOF, type WatchdogDevice, type WatchdogSupport } from './device.js';
import { WatchdogError, WatchdogErrorCode } from './errors.js';
import { openError } from './linux-device.js';

const IDENTITY = 'Watchdog test harness';

class TestingWatchdogDevice implements WatchdogDevice {
  readonly path: string;
  #handle: FileHandle | null = null;
  #timeout = 60;

  constructor(path: string) {
    this.path = path;
  }

  get running(): boolean {
    return this.#handle !== null;
  }

  isHealthy(): boolean {
    return deviceWritable(this.path);
  }

  async open(): Promise<void> {
    if (this.#handle) return;
    try {
      // Non-blocking: with no supervisor reading, open fails (ENXIO) instead of waiting forever.
      this.#handle = await open(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENXIO') {
        throw new WatchdogError(WatchdogErrorCode.Io, `no supervisor is reading the testing watchdog FIFO ${this.path}`, { device: this.path, cause: e });
      }
      throw openError(this.path, e);
    }
  }

  support(): WatchdogSupport {
    return { options: WDIOF.MAGICCLOSE | WDIOF.SETTIMEOUT, firmwareVersion: 0, identity: IDENTITY };
  }

  async setTimeout(seconds: number): Promise<void> {
    const s = Math.trunc(seconds);
    if (!(s > 0 && s < 0xffff)) {
      throw new WatchdogError(WatchdogErrorCode.Timeout, `invalid watchdog timeout ${seconds}: supported values are 1 to 65535 seconds`, {
        device: this.path,
      });
    }
    await this.#write(`Ctimeout=${s}\n`, 'set the timeout of');
    this.#timeout = s;
  }

  async getTimeout(): Promise<number> {
    return this.#timeout;
  }

  async keepalive(): Promise<void> {
    await this.#write('1', 'send a keepalive to');
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    if (!handle) return;
    try {
      await this.#write('V', 'write the magic close to');
    } finally {
      this.#handle = null;
      await handle.close().catch(() => {});
    }
  }

  describe(): string {
    return IDENTITY;
  }

  async #write(text: string, what: string): Promise<void> {
    const handle = this.#handle;
    if (!handle) throw new WatchdogError(WatchdogErrorCode.Io, `cannot ${what} testing watchdog ${this.path}: it is closed`, { device: this.path });
    try {
      await handle.write(text);
    } catch (e) {
      throw new WatchdogError(WatchdogErrorCode.Io, `could not ${what} testing watchdog ${this.path}: ${(e as Error).message}`, {
        device: this.path,
        cause: e,
      });
    }
  }
}

export function testingWatchdogDevice(path: string): WatchdogDevice {
  return new TestingWatchdogDevice(path);
}
