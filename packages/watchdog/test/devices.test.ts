import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  WatchdogErrorCode,
  createWatchdog,
  isWatchdogError,
  linuxWatchdogDevice,
  pythonIoctlRunner,
  superviseTestingDevice,
  watchdogIoctlNumbers,
  type TestingSupervisor,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pgha-watchdog-'));
const supervisors: TestingSupervisor[] = [];
afterAll(() => {
  for (const s of supervisors) s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function openError(path: string): Promise<unknown> {
  try {
    await linuxWatchdogDevice({ path }).open();
  } catch (e) {
    return e;
  }
  throw new Error(`opening ${path} succeeded`);
}

describe('Linux device: error paths (no /dev/watchdog here)', () => {
  it('ioctl request numbers match linux/watchdog.h', () => {
    expect(watchdogIoctlNumbers('x64')).toEqual({ getSupport: 0x80285700, setTimeout: 0xc0045706, getTimeout: 0x80045707 });
    expect(watchdogIoctlNumbers('ppc64').getSupport).toBe(0x40285700);
  });
  it('a missing device is a clear, coded error naming the path', async () => {
    const e = await openError(join(dir, 'watchdog'));
    expect(isWatchdogError(e, WatchdogErrorCode.DeviceMissing)).toBe(true);
    expect((e as Error).message).toContain(`${join(dir, 'watchdog')} does not exist (watchdog.device)`);
  });
  it('a regular file is not a watchdog: GETSUPPORT fails', async () => {
    const file = join(dir, 'regular');
    writeFileSync(file, '');
    const e = await openError(file);
    expect(isWatchdogError(e, WatchdogErrorCode.NotAWatchdog)).toBe(true);
    expect((e as Error).message).toMatch(/regular file; WDIOC_GETSUPPORT failed: ENOTTY/);
  });
  it('a character device that is not a watchdog (/dev/null) is refused the same way', async () => {
    const e = await openError('/dev/null');
    expect(isWatchdogError(e, WatchdogErrorCode.NotAWatchdog)).toBe(true);
  });
  it('a FIFO fails at once instead of blocking', async () => {
    const fifo = join(dir, 'lonely.fifo');
    execFileSync('mkfifo', [fifo]);
    const e = await openError(fifo);
    expect(isWatchdogError(e)).toBe(true);
  });
  it('required mode with a missing device: unhealthy, activation refused', async () => {
    const wd = createWatchdog({ config: { mode: 'required', device: join(dir, 'none'), driver: 'default', safetyMargin: 5 }, timing: () => ({ ttl: 10, loopWait: 1 }) });
    expect(wd.healthy).toBe(false);
    expect(await wd.activate()).toBe(false);
  });
});

describe('testing device and its supervisor', () => {
  function start(name: string, ttl = 2) {
    const fired: string[] = [];
    const supervisor = superviseTestingDevice({ fifo: join(dir, `${name}.fifo`), onFire: () => (fired.push('fired'), 'fenced') });
    supervisors.push(supervisor);
    const watchdog = createWatchdog({
      config: { mode: 'required', device: supervisor.fifo, driver: 'testing', safetyMargin: 1 },
      timing: () => ({ ttl, loopWait: 1 }),
    });
    return { supervisor, watchdog, fired };
  }

  it('keepalives hold it off; when they stop it fires after the timeout', async () => {
    // A 5 s timeout (ttl 6, margin 1) against keepalives every 400 ms: the supervisor's timer
    // shares this process's event loop, so a stall shorter than 4.6 s cannot fire it falsely.
    const { supervisor, watchdog } = start('stops', 6);
    expect(await watchdog.activate()).toBe(true);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 400));
      await watchdog.keepalive();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(supervisor.events.filter((e) => e.kind === 'fired')).toEqual([]);
    expect(supervisor.keepalives).toBe(4);
    const fired = await supervisor.nextFire();
    expect(fired.timeout).toBe(5);
    expect(fired.detail).toBe('fenced');
    expect(fired.at - fired.lastKeepaliveAt).toBeGreaterThanOrEqual(5000);
  });

  it('the magic close disarms it', async () => {
    const { supervisor, watchdog, fired } = start('disarmed');
    await watchdog.activate();
    await watchdog.disable();
    await new Promise((r) => setTimeout(r, 1500));
    expect(supervisor.armed).toBe(false);
    expect(fired).toEqual([]);
    expect(supervisor.events.map((e) => e.kind)).toEqual(['timeout', 'disarm']);
  });

  it('a writer killed without the magic character leaves it armed, and it fires', async () => {
    const { supervisor } = start('died');
    const script = `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(supervisor.fifo)}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); fs.writeSync(fd, 'Ctimeout=1\\n1'); process.kill(process.pid, 'SIGKILL');`;
    const fire = supervisor.nextFire();
    try {
      execFileSync(process.execPath, ['-e', script]);
    } catch {
      // killed by its own SIGKILL, as intended
    }
    const fired = await fire;
    expect(fired.timeout).toBe(1);
    expect(supervisor.events.map((e) => e.kind)).toEqual(['timeout', 'fired']);
  });
});

/**
 * Issue 15 (review H4): opening /dev/watchdog arms it, so every path that gives up a device it
 * opened must write the magic `V` first. The "device" here is the testing supervisor's FIFO,
 * which records every byte written to it (as a character device would receive them); the ioctl
 * helper is made to fail by pointing it at an interpreter that does not exist, or one that hangs.
 */
describe('Linux device: giving up an opened device always writes the magic close', () => {
  const missingPython = join(dir, 'no-such-python3');
  function hangingPython(): string {
    const path = join(dir, 'hanging-python3');
    writeFileSync(path, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(path, 0o755);
    return path;
  }

  /** The supervisor's events up to a sentinel written after `open()` gave up (FIFO order). */
  async function eventsAfter(supervisor: TestingSupervisor): Promise<string[]> {
    const fd = openSync(supervisor.fifo, 'w');
    writeSync(fd, 'Ctimeout=77\n');
    closeSync(fd);
    const sentinel = (): boolean => supervisor.events.some((e) => e.kind === 'timeout' && e.seconds === 77);
    for (let i = 0; i < 200 && !sentinel(); i++) await new Promise((r) => setTimeout(r, 10));
    const kinds: string[] = [];
    for (const e of supervisor.events) {
      if (e.kind === 'timeout' && e.seconds === 77) break;
      kinds.push(e.kind);
    }
    return kinds;
  }

  function supervised(name: string): TestingSupervisor {
    const supervisor = superviseTestingDevice({ fifo: join(dir, `${name}.fifo`), onFire: () => 'fired' });
    supervisors.push(supervisor);
    return supervisor;
  }

  it('the ioctl helper cannot run (no python3): WATCHDOG_IOCTL_UNAVAILABLE, and V was written before the close', async () => {
    const supervisor = supervised('nopython');
    const device = linuxWatchdogDevice({ path: supervisor.fifo, ioctl: pythonIoctlRunner({ python: missingPython }) });
    const e = await device.open().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isWatchdogError(e, WatchdogErrorCode.IoctlUnavailable)).toBe(true);
    expect(device.running).toBe(false);
    expect(await eventsAfter(supervisor)).toEqual(['disarm']);
  });

  it('the ioctl helper times out: V was written before the close', async () => {
    const supervisor = supervised('slowpython');
    const device = linuxWatchdogDevice({ path: supervisor.fifo, ioctl: pythonIoctlRunner({ python: hangingPython(), timeoutMs: 200 }) });
    const e = await device.open().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isWatchdogError(e, WatchdogErrorCode.IoctlUnavailable)).toBe(true);
    expect(await eventsAfter(supervisor)).toEqual(['disarm']);
  });

  it('GETSUPPORT fails on an opened device: V was written before the close', async () => {
    const supervisor = supervised('nosupport');
    // The real helper: a FIFO answers ENOTTY, as a watchdog driver failing the ioctl would fail it.
    const e = await linuxWatchdogDevice({ path: supervisor.fifo }).open().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isWatchdogError(e, WatchdogErrorCode.NotAWatchdog)).toBe(true);
    expect(await eventsAfter(supervisor)).toEqual(['disarm']);
  });

  it('a regular file named as the device is not written to', async () => {
    const file = join(dir, 'not-a-device');
    writeFileSync(file, 'keep');
    await linuxWatchdogDevice({ path: file, ioctl: pythonIoctlRunner({ python: missingPython }) })
      .open()
      .catch(() => {});
    expect(readFileSync(file, 'utf8')).toBe('keep');
  });
});

describe('required mode refuses to start when the device cannot be fully set up', () => {
  const config = (device: string) => ({ mode: 'required' as const, device, driver: 'default' as const, safetyMargin: 5 });
  const timing = () => ({ ttl: 30, loopWait: 10 });

  it('no python3 for the ioctls: verify() rejects with WATCHDOG_IOCTL_UNAVAILABLE, without arming the device', async () => {
    const supervisor = superviseTestingDevice({ fifo: join(dir, 'verify.fifo'), onFire: () => 'fired' });
    supervisors.push(supervisor);
    const wd = createWatchdog({
      config: config(supervisor.fifo),
      timing,
      createDevice: (c) => linuxWatchdogDevice({ path: c.device, ioctl: pythonIoctlRunner({ python: join(dir, 'no-such-python3') }) }),
    });
    const e = await wd.verify().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isWatchdogError(e, WatchdogErrorCode.IoctlUnavailable)).toBe(true);
    expect((e as Error).message).toContain(supervisor.fifo);
    expect(supervisor.events).toEqual([]);
  });

  it('a missing device is not refused at start (Patroni: the member runs, unhealthy, and never leads)', async () => {
    const wd = createWatchdog({ config: config(join(dir, 'absent-watchdog')), timing });
    await expect(wd.verify()).resolves.toBeUndefined();
    expect(wd.healthy).toBe(false);
  });

  it('a device whose ioctl helper runs is not refused, and is not armed by the check', async () => {
    const supervisor = superviseTestingDevice({ fifo: join(dir, 'verify-ok.fifo'), onFire: () => 'fired' });
    supervisors.push(supervisor);
    const wd = createWatchdog({ config: config(supervisor.fifo), timing });
    await expect(wd.verify()).resolves.toBeUndefined();
    expect(supervisor.events).toEqual([]);
  });

  it('automatic mode does not refuse', async () => {
    const wd = createWatchdog({ config: { ...config(join(dir, 'absent-watchdog')), mode: 'automatic' }, timing });
    await expect(wd.verify()).resolves.toBeUndefined();
  });
});
