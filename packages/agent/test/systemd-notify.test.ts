import { describe, expect, it } from 'vitest';
import { notifyMessages, systemdNotifier, watchdogPingMs } from '../src/systemd/notify.js';

describe('systemd notify protocol', () => {
  it('writes the datagrams sd_notify(3) defines, one line each, status on one line', () => {
    expect(notifyMessages.ready('replica, following pg0:\nno action')).toBe(`READY=1\nSTATUS=replica, following pg0: no action\nMAINPID=${process.pid}`);
    expect(notifyMessages.reloading(123456789n)).toBe('RELOADING=1\nMONOTONIC_USEC=123456789');
    expect(notifyMessages.stopping()).toBe('STOPPING=1');
    expect(notifyMessages.watchdog()).toBe('WATCHDOG=1');
  });

  it('pings at half of WATCHDOG_USEC, only when the watchdog is meant for this process', () => {
    expect(watchdogPingMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogPingMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
    expect(watchdogPingMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBeNull();
    expect(watchdogPingMs({}, 42)).toBeNull();
    expect(watchdogPingMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeNull();
  });

  it('without NOTIFY_SOCKET there is nothing to notify; an abstract socket is reported, not fatal', () => {
    const warnings: string[] = [];
    expect(systemdNotifier({}, (m) => warnings.push(m))).toBeNull();
    expect(systemdNotifier({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }, (m) => warnings.push(m))).toBeNull();
    expect(warnings).toEqual(['NOTIFY_SOCKET @/org/freedesktop/systemd1/notify is an abstract socket, which pgha cannot reach: no systemd notifications']);
  });
});
