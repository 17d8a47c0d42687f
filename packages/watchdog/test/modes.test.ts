import { describe, expect, it } from 'vitest';
import { WDIOF, WatchdogErrorCode, createWatchdog, defaultWatchdogConfig, isWatchdogError, type WatchdogConfig } from '../src/index.js';
import { fakeDevice, recordingLogger, type FakeDevice } from './fixtures/fake-device.js';

function setup(config: Partial<WatchdogConfig>, device: FakeDevice | null = fakeDevice(), timing = { ttl: 10, loopWait: 2 }) {
  const logger = recordingLogger();
  const t = { ...timing };
  const watchdog = createWatchdog({ config: { ...defaultWatchdogConfig, ...config }, timing: () => t, logger, createDevice: () => device });
  return { watchdog, device, logger, timing: t };
}

describe('mode off', () => {
  it('never touches a device and always allows promotion', async () => {
    const { watchdog, device } = setup({ mode: 'off' });
    expect(await watchdog.activate()).toBe(true);
    await watchdog.keepalive();
    await watchdog.disable();
    expect(device!.calls).toEqual([]);
    expect(watchdog.healthy).toBe(true);
  });
});

describe('mode automatic', () => {
  it('arms with ttl - safety_margin and says so in Patroni words', async () => {
    const { watchdog, device, logger } = setup({ mode: 'automatic' });
    expect(await watchdog.activate()).toBe(true);
    expect(watchdog.active).toBe(true);
    expect(device!.calls).toEqual(['open', 'settimeout 5']);
    expect(logger.lines).toContain('info: Fake Watchdog activated with 5 second timeout, timing slack 3 seconds');
  });
  it('goes on without a device when it cannot open one', async () => {
    const { watchdog, logger } = setup({ mode: 'automatic' }, fakeDevice({ present: false }));
    expect(await watchdog.activate()).toBe(true);
    expect(watchdog.active).toBe(false);
    expect(watchdog.healthy).toBe(true);
    expect(logger.lines.some((l) => l.startsWith('warn: Could not activate Fake Watchdog: watchdog device'))).toBe(true);
  });
  it('warns when a driver without SETTIMEOUT keeps a longer timeout, but still arms', async () => {
    const { watchdog, device, logger } = setup({ mode: 'automatic' }, fakeDevice({ options: WDIOF.MAGICCLOSE, fixedTimeout: 60 }));
    expect(await watchdog.activate()).toBe(true);
    expect(device!.calls).toEqual(['open']);
    expect(logger.lines).toContain('warn: Watchdog timeout 60 seconds does not ensure safe termination within 5 seconds');
  });
});

describe('mode required', () => {
  it('refuses promotion when the device is missing, and is unhealthy', async () => {
    const { watchdog, logger } = setup({ mode: 'required' }, fakeDevice({ present: false }));
    expect(watchdog.healthy).toBe(false);
    expect(await watchdog.activate()).toBe(false);
    expect(logger.lines).toContain('error: Configuration requires watchdog, but watchdog could not be configured.');
    expect(watchdog.state().lastError).toMatch(/does not exist/);
  });
  it('refuses when the timeout cannot cover one loop (and is unhealthy)', async () => {
    const { watchdog, device, logger } = setup({ mode: 'required' }, fakeDevice(), { ttl: 10, loopWait: 6 });
    expect(watchdog.healthy).toBe(false);
    expect(await watchdog.activate()).toBe(false);
    expect(device!.calls).toEqual([]);
    expect(logger.lines).toContain('warn: Watchdog not supported because leader TTL 10 is less than 2x loop_wait 6');
  });
  it('refuses and disarms when the driver keeps a timeout longer than ttl - margin', async () => {
    const { watchdog, device, logger } = setup({ mode: 'required' }, fakeDevice({ options: WDIOF.MAGICCLOSE, fixedTimeout: 60 }));
    expect(await watchdog.activate()).toBe(false);
    expect(device!.running).toBe(false);
    expect(logger.lines).toContain(
      'error: Configuration requires watchdog, but a safe watchdog timeout 5 could not be configured. Watchdog timeout is 60.',
    );
  });
  it('disarms a device whose timeout is shorter than loop_wait', async () => {
    const { watchdog, device, logger } = setup({ mode: 'required' }, fakeDevice({ options: WDIOF.MAGICCLOSE, fixedTimeout: 1 }));
    expect(await watchdog.activate()).toBe(false);
    expect(device!.calls).toEqual(['open', 'close']);
    expect(logger.lines).toContain('error: loop_wait of 2 seconds is too long for watchdog 1 second timeout');
  });
  it('arms a usable device and allows promotion; safety_margin -1 gives ttl/2', async () => {
    const { watchdog, device } = setup({ mode: 'required', safetyMargin: -1 }, fakeDevice(), { ttl: 30, loopWait: 10 });
    expect(watchdog.healthy).toBe(true);
    expect(await watchdog.activate()).toBe(true);
    expect(device!.calls).toEqual(['open', 'settimeout 15']);
  });
  it('throws a coded error at start when the platform has no watchdog driver', () => {
    try {
      setup({ mode: 'required' }, null);
      expect.unreachable();
    } catch (e) {
      expect(isWatchdogError(e, WatchdogErrorCode.Unsupported)).toBe(true);
    }
  });
});

describe('lifecycle while armed', () => {
  it('keepalive writes only while armed', async () => {
    const { watchdog, device } = setup({ mode: 'automatic' });
    await watchdog.keepalive();
    expect(device!.calls).toEqual([]);
    await watchdog.activate();
    await watchdog.keepalive();
    expect(device!.calls).toEqual(['open', 'settimeout 5', 'keepalive']);
  });
  it('re-times after the keepalive that follows a ttl change', async () => {
    const { watchdog, device, logger, timing } = setup({ mode: 'required' });
    await watchdog.activate();
    timing.ttl = 20;
    await watchdog.keepalive();
    expect(device!.calls).toEqual(['open', 'settimeout 5', 'keepalive', 'settimeout 15']);
    expect(logger.lines).toContain('info: Fake Watchdog updated with 15 second timeout, timing slack 13 seconds');
    await watchdog.keepalive();
    expect(device!.calls.at(-1)).toBe('keepalive');
  });
  it('a second activation while armed only keeps alive', async () => {
    const { watchdog, device } = setup({ mode: 'required' });
    await watchdog.activate();
    expect(await watchdog.activate()).toBe(true);
    expect(device!.calls).toEqual(['open', 'settimeout 5', 'keepalive']);
  });
  it('disable closes (magic close) and a later keepalive does nothing', async () => {
    const { watchdog, device } = setup({ mode: 'automatic' });
    await watchdog.activate();
    await watchdog.disable();
    await watchdog.keepalive();
    expect(device!.calls).toEqual(['open', 'settimeout 5', 'close']);
    expect(watchdog.active).toBe(false);
  });
  it('warns that a device without magic close cannot be disabled', async () => {
    const { watchdog, device, logger } = setup({ mode: 'automatic' }, fakeDevice({ options: WDIOF.SETTIMEOUT }));
    await watchdog.activate();
    expect(logger.lines).toContain("warn: Watchdog implementation can't be disabled. Watchdog will trigger after Patroni loses leader key.");
    await watchdog.disable();
    expect(device!.calls.slice(-2)).toEqual(['keepalive', 'close']);
    expect(logger.lines).toContain("warn: Watchdog implementation can't be disabled. System will reboot after 5 seconds when watchdog times out.");
  });
  it('a failing keepalive is logged, never thrown', async () => {
    const { watchdog, device, logger } = setup({ mode: 'automatic' });
    await watchdog.activate();
    device!.failKeepalive = true;
    await expect(watchdog.keepalive()).resolves.toBeUndefined();
    expect(logger.lines).toContain('error: Error while sending keepalive: could not send a keepalive');
  });
  it('reconfigure to off disarms at once', async () => {
    const { watchdog, device } = setup({ mode: 'automatic' });
    await watchdog.activate();
    await watchdog.reconfigure({ ...defaultWatchdogConfig, mode: 'off' });
    expect(device!.calls.at(-1)).toBe('close');
    expect(await watchdog.activate()).toBe(true);
    expect(watchdog.active).toBe(false);
  });
});
