// Logical slot copies on replicas (issue #8): when a copy is useful, and how its state file is written.
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installSlotState, walStillHere } from '../src/slot-state.js';

describe('walStillHere', () => {
  it('compares segment positions, whatever the timeline', () => {
    expect(walStillHere('000000010000000000000003', '000000010000000000000002')).toBe(true);
    expect(walStillHere('000000010000000000000002', '000000010000000000000002')).toBe(true);
    expect(walStillHere('000000010000000000000001', '000000010000000000000002')).toBe(false);
    // After a failover the replica's files carry a newer timeline; the position is what counts.
    expect(walStillHere('000000010000000100000000', '0000000300000000000000FF')).toBe(true);
    expect(walStillHere('000000010000000000000005', null)).toBe(false);
  });
});

describe('installSlotState', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = null;
  });

  it('writes pg_replslot/<name>/state (mode 0600 in a 0700 directory), replacing an older copy, leaving no temp directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slot-state-'));
    await mkdir(join(dir, 'pg_replslot'));
    await installSlotState(dir, { name: 'cdc', state: new Uint8Array([1, 2, 3]), restartFile: '000000010000000000000002' }, undefined);
    await installSlotState(dir, { name: 'cdc', state: new Uint8Array([4, 5]), restartFile: '000000010000000000000003' }, undefined);
    expect([...(await readFile(join(dir, 'pg_replslot', 'cdc', 'state')))]).toEqual([4, 5]);
    expect((await stat(join(dir, 'pg_replslot', 'cdc', 'state'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'pg_replslot', 'cdc'))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir, 'pg_replslot'))).toEqual(['cdc']);
  });

  it('refuses a name that is not a slot name (it becomes a path)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slot-state-'));
    await expect(installSlotState(dir, { name: '../x', state: new Uint8Array([1]), restartFile: '' }, undefined)).rejects.toThrow(/invalid replication slot name/);
  });
});
