import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  WatchdogErrorCode,
  createWatchdog,
  isWatchdogError,
  linuxWatchdogDevice,
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
  function start(name: string) {
    const fired: string[] = [];
    const supervisor = superviseTestingDevice({ fifo: join(dir, `${name}.fifo`), onFire: () => (fired.push('fired'), 'fenced') });
    supervisors.push(supervisor);
    const watchdog = createWatchdog({
      config: { mode: 'required', device: supervisor.fifo, driver: 'testing', safetyMargin: 1 },
      timing: () => ({ ttl: 2, loopWait: 1 }),
    });
    return { supervisor, watchdog, fired };
  }

  it('keepalives hold it off; when they stop it fires after the timeout', async () => {
    const { supervisor, watchdog } = start('stops');
    expect(await watchdog.activate()).toBe(true);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 400));
      await watchdog.keepalive();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(supervisor.events.filter((e) => e.kind === 'fired')).toEqual([]);
    expect(supervisor.keepalives).toBe(4);
    const fired = await supervisor.nextFire();
    expect(fired.timeout).toBe(1);
    expect(fired.detail).toBe('fenced');
    expect(fired.at - fired.lastKeepaliveAt).toBeGreaterThanOrEqual(1000);
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
