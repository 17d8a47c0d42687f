/**
 * The Linux watchdog driver (`/dev/watchdog`): open for writing arms it, any write is a
 * keepalive, `V` then close disarms it (when the driver supports the magic close), and the
 * timeout is set and read with ioctls (ioctl.ts).
 */
import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { deviceWritable, type WatchdogDevice, type WatchdogSupport } from './device.js';
import { WatchdogError, WatchdogErrorCode } from './errors.js';
import { IoctlHelperError, pythonIoctlRunner, type IoctlResult, type IoctlRunner, type IoctlStep } from './ioctl.js';

export const DEFAULT_WATCHDOG_DEVICE = '/dev/watchdog';

export interface LinuxDeviceOptions {
  path?: string;
  ioctl?: IoctlRunner;
}

function osCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? ((e as { code?: unknown }).code as string | undefined) : undefined;
}

export function openError(path: string, e: unknown): WatchdogError {
  const code = osCode(e);
  const why = e instanceof Error ? e.message : String(e);
  const uid = typeof process.getuid === 'function' ? process.getuid() : '?';
  switch (code) {
    case 'ENOENT':
      return new WatchdogError(
        WatchdogErrorCode.DeviceMissing,
        `watchdog device ${path} does not exist (watchdog.device): load a watchdog driver (e.g. \`modprobe softdog\`) or set watchdog.mode: off`,
        { device: path, cause: e },
      );
    case 'EACCES':
    case 'EPERM':
      return new WatchdogError(
        WatchdogErrorCode.NotPermitted,
        `not permitted to open watchdog device ${path} for writing as uid ${uid}: give the agent's user the device (e.g. a udev rule setting OWNER)`,
        { device: path, cause: e },
      );
    case 'EBUSY':
      return new WatchdogError(WatchdogErrorCode.Busy, `watchdog device ${path} is already open in another process (only one may hold it)`, {
        device: path,
        cause: e,
      });
    default:
      return new WatchdogError(WatchdogErrorCode.Io, `cannot open watchdog device ${path}: ${why}`, { device: path, cause: e });
  }
}

class LinuxWatchdogDevice implements WatchdogDevice {
  readonly path: string;
  readonly #ioctl: IoctlRunner;
  #handle: FileHandle | null = null;
  #support: WatchdogSupport | null = null;

  constructor(options: LinuxDeviceOptions) {
    this.path = options.path ?? DEFAULT_WATCHDOG_DEVICE;
    this.#ioctl = options.ioctl ?? pythonIoctlRunner();
  }

  get running(): boolean {
    return this.#handle !== null;
  }

  isHealthy(): boolean {
    return deviceWritable(this.path);
  }

  async preflight(): Promise<void> {
    // The helper is tried on /dev/null rather than the device: opening the device would arm it.
    // Any answer, even ENOTTY, shows it runs; only a helper that cannot run at all (no python3,
    // a timeout) is the failure this looks for.
    const probe = await open('/dev/null', constants.O_WRONLY);
    try {
      await this.#ioctl.run(probe.fd, [{ op: 'getsupport' }]);
    } catch (e) {
      throw new WatchdogError(WatchdogErrorCode.IoctlUnavailable, `cannot issue ioctls to watchdog device ${this.path}: ${(e as Error).message}`, {
        device: this.path,
        cause: e,
      });
    } finally {
      await probe.close().catch(() => {});
    }
  }

  async open(): Promise<void> {
    if (this.#handle) return;
    let info: Stats;
    try {
      info = await stat(this.path);
    } catch (e) {
      throw openError(this.path, e);
    }
    let handle: FileHandle;
    try {
      // O_NONBLOCK: a FIFO named by mistake must fail (ENXIO) rather than block until a reader comes.
      handle = await open(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      throw openError(this.path, e);
    }
    let results: IoctlResult[];
    try {
      results = await this.#ioctl.run(handle.fd, [{ op: 'getsupport' }]);
    } catch (e) {
      await giveUp(handle, info);
      throw new WatchdogError(WatchdogErrorCode.IoctlUnavailable, `cannot query watchdog device ${this.path}: ${(e as Error).message}`, {
        device: this.path,
        cause: e,
      });
    }
    const first = results[0];
    if (!first?.ok || first.op !== 'getsupport') {
      // Most likely not a watchdog; but a watchdog driver failing GETSUPPORT is armed all the same.
      await giveUp(handle, info);
      const what = info.isCharacterDevice() ? 'character device' : info.isFIFO() ? 'FIFO' : info.isFile() ? 'regular file' : 'file';
      const why = first && !first.ok ? `${first.errno}: ${first.message}` : 'no answer';
      throw new WatchdogError(
        WatchdogErrorCode.NotAWatchdog,
        `${this.path} is not a watchdog device (${what}; WDIOC_GETSUPPORT failed: ${why}); check watchdog.device`,
        { device: this.path },
      );
    }
    this.#handle = handle;
    this.#support = first.support;
  }

  support(): WatchdogSupport {
    if (!this.#support) throw new WatchdogError(WatchdogErrorCode.Io, `watchdog device ${this.path} is closed`, { device: this.path });
    return this.#support;
  }

  async setTimeout(seconds: number): Promise<void> {
    const s = Math.trunc(seconds);
    if (!(s > 0 && s < 0xffff)) {
      throw new WatchdogError(WatchdogErrorCode.Timeout, `invalid watchdog timeout ${seconds}: supported values are 1 to 65535 seconds`, {
        device: this.path,
      });
    }
    await this.#step({ op: 'settimeout', seconds: s }, 'set the timeout');
  }

  async getTimeout(): Promise<number> {
    return this.#step({ op: 'gettimeout' }, 'read the timeout');
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
      this.#support = null;
      await handle.close().catch(() => {});
    }
  }

  describe(): string {
    const where = this.path === DEFAULT_WATCHDOG_DEVICE ? '' : ` at ${this.path}`;
    const s = this.#support;
    if (!s) return `Linux watchdog device${where}`;
    return `${s.identity || 'Linux watchdog device'}${s.firmwareVersion ? ` (firmware ${s.firmwareVersion})` : ''}${where}`;
  }

  async #step(step: IoctlStep, what: string): Promise<number> {
    const handle = this.#handle;
    if (!handle) throw new WatchdogError(WatchdogErrorCode.Io, `cannot ${what} of watchdog device ${this.path}: it is closed`, { device: this.path });
    let results: IoctlResult[];
    try {
      results = await this.#ioctl.run(handle.fd, [step]);
    } catch (e) {
      const code = e instanceof IoctlHelperError ? WatchdogErrorCode.IoctlUnavailable : WatchdogErrorCode.Timeout;
      throw new WatchdogError(code, `cannot ${what} of watchdog device ${this.path}: ${(e as Error).message}`, { device: this.path, cause: e });
    }
    const r = results[0];
    if (r?.ok && r.op !== 'getsupport') return r.seconds;
    const why = r && !r.ok ? `${r.errno}: ${r.message}` : 'no answer';
    throw new WatchdogError(WatchdogErrorCode.Timeout, `cannot ${what} of watchdog device ${this.path}: ${why}`, { device: this.path });
  }

  async #write(byte: string, what: string): Promise<void> {
    const handle = this.#handle;
    if (!handle) throw new WatchdogError(WatchdogErrorCode.Io, `cannot ${what} watchdog device ${this.path}: it is closed`, { device: this.path });
    try {
      await handle.write(byte);
    } catch (e) {
      throw new WatchdogError(WatchdogErrorCode.Io, `could not ${what} watchdog device ${this.path}: ${(e as Error).message}`, {
        device: this.path,
        cause: e,
      });
    }
  }
}

/**
 * Closes a descriptor `open()` will not keep. Opening a watchdog arms it with the driver's default
 * timeout, and a close without the magic character leaves it counting ("watchdog did not stop!"),
 * so the host resets about a minute later. `V` is written first, except into a regular file,
 * which cannot be a watchdog (and whose first byte it would overwrite).
 */
async function giveUp(handle: FileHandle, info: Stats): Promise<void> {
  if (!info.isFile()) await handle.write('V').catch(() => {});
  await handle.close().catch(() => {});
}

export function linuxWatchdogDevice(options: LinuxDeviceOptions = {}): WatchdogDevice {
  return new LinuxWatchdogDevice(options);
}
