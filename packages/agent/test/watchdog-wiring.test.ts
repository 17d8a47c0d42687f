/**
 * The watchdog must fire before the DCS can give our lock away. On ZooKeeper the server may grant
 * a shorter session than the ttl asked for; the watchdog is then timed from that session.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineConfig } from '@pgha/ha-engine';
import { superviseTestingDevice, type TestingSupervisor } from '@pgha/watchdog';
import { buildWatchdog } from '../src/watchdog-wiring.js';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
let supervisor: TestingSupervisor | null = null;
let dir: string | null = null;

afterEach(async () => {
  supervisor?.stop();
  supervisor = null;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = null;
});

async function armedTimeout(leaseSeconds: number | null): Promise<number | undefined> {
  dir = await mkdtemp(join(tmpdir(), 'pgha-wd-'));
  supervisor = superviseTestingDevice({ fifo: join(dir, 'watchdog'), onFire: () => 'fired' });
  const wiring = buildWatchdog({
    section: { mode: 'required', driver: 'testing', device: supervisor.fifo, safety_margin: 5 },
    engineConfig: () => ({ ttl: 30, loopWait: 1 }) as EngineConfig,
    ...(leaseSeconds !== null ? { leaseSeconds: () => leaseSeconds } : {}),
    logger: quiet,
  });
  expect(await wiring.port.activate()).toBe(true);
  const s = supervisor;
  await expect.poll(() => s.events.some((e) => e.kind === 'timeout')).toBe(true);
  await wiring.port.disable();
  const event = s.events.find((e) => e.kind === 'timeout');
  return event?.kind === 'timeout' ? event.seconds : undefined;
}

describe('watchdog timing', () => {
  it('is ttl minus the safety margin when the DCS keeps the lock for the whole ttl', async () => {
    expect(await armedTimeout(30)).toBe(25);
  });

  it('follows a shorter session the DCS granted (ZooKeeper lowering the timeout)', async () => {
    expect(await armedTimeout(10)).toBe(5);
  });
});
