import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSocketOwner, memberOfConnection } from '../src/socket-owner.js';

describe('memberOfConnection', () => {
  let server: Server | null = null;
  let child: ChildProcess | null = null;
  const children: ChildProcess[] = [];
  let root = '';

  afterEach(async () => {
    child?.kill('SIGKILL');
    for (const c of children.splice(0)) c.kill('SIGKILL');
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

  it('names each connection by its process once the owners of earlier ones are remembered', async () => {
    root = mkdtempSync(join(tmpdir(), 'owner-'));
    const dirs = new Map([
      ['pg0', join(root, 'pg0')],
      ['pg1', join(root, 'pg1')],
    ]);
    mkdirSync(join(root, 'pg0'), { recursive: true });
    mkdirSync(join(root, 'pg1'), { recursive: true });
    const queue: Socket[] = [];
    const waiting: ((s: Socket) => void)[] = [];
    server = createServer((s) => {
      const w = waiting.shift();
      if (w) w(s);
      else queue.push(s);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    const next = () => new Promise<Socket>((resolve) => (queue.length > 0 ? resolve(queue.shift()!) : waiting.push(resolve)));
    // A process connects once at start and once more on a line on its stdin (an agent's next probe).
    const connector = (cwd: string) => {
      const c = spawn(process.execPath, ['-e', `const net = require('net'); const go = () => net.connect(${port}, '127.0.0.1'); go(); process.stdin.on('data', go)`], { cwd, stdio: ['pipe', 'ignore', 'ignore'] });
      children.push(c);
      return c;
    };
    const owner = createSocketOwner(dirs);
    const a = connector(join(root, 'pg0'));
    expect(await owner(await next(), port)).toBe('pg0');
    // pg0's process is remembered now: its next connection, and one of pg1's, are both told right.
    a.stdin!.write('\n');
    expect(await owner(await next(), port)).toBe('pg0');
    connector(join(root, 'pg1'));
    expect(await owner(await next(), port)).toBe('pg1');
    a.stdin!.write('\n');
    expect(await owner(await next(), port)).toBe('pg0');
  });

  it('answers null for a connection closed before it was identified', async () => {
    const accepted = new Promise<Socket>((resolve) => {
      server = createServer((s) => resolve(s));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    const client = new Socket();
    client.connect(port, '127.0.0.1');
    const socket = await accepted;
    // This process is the member here: while open, its connection is named.
    const owner = createSocketOwner(new Map([['pg0', process.cwd()]]));
    expect(await owner(socket, port)).toBe('pg0');
    client.destroy();
    socket.destroy();
    expect(await owner(socket, port)).toBeNull();
  });
});
