import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memberOfConnection } from '../src/socket-owner.js';

describe('memberOfConnection', () => {
  let server: Server | null = null;
  let child: ChildProcess | null = null;
  let root = '';

  afterEach(async () => {
    child?.kill('SIGKILL');
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('names the member whose directory holds the working directory of the connecting process', async () => {
    root = mkdtempSync(join(tmpdir(), 'owner-'));
    const dirs = new Map([
      ['pg0', join(root, 'pg0')],
      ['pg1', join(root, 'pg1')],
    ]);
    mkdirSync(join(root, 'pg1', 'data'), { recursive: true });
    mkdirSync(join(root, 'pg0'), { recursive: true });
    const accepted = new Promise<Socket>((resolve) => {
      server = createServer((s) => resolve(s));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    // A process of pg1 (working in its data directory, as a PostgreSQL backend does) connects.
    child = spawn(process.execPath, ['-e', `require('net').connect(${port}, '127.0.0.1'); setTimeout(() => {}, 60000)`], { cwd: join(root, 'pg1', 'data'), stdio: 'ignore' });
    const socket = await accepted;
    expect(await memberOfConnection(socket, port, dirs)).toBe('pg1');
    // A process of no member (this one) is unknown.
    expect(await memberOfConnection(socket, port, new Map([['pg0', join(root, 'pg0')]]))).toBeNull();
    socket.destroy();
  });
});
