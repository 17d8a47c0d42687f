import { createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startDcsProxy, type DcsProxy } from '../src/proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DCS proxy', () => {
  let echo: Server;
  let proxy: DcsProxy;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await proxy?.close();
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  });

  const start = async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    proxy = await startDcsProxy();
    proxy.setTarget((echo.address() as { port: number }).port);
  };
  const open = async () => {
    const s = new Socket();
    sockets.push(s);
    let received = '';
    s.on('data', (d: Buffer) => (received += d.toString()));
    await new Promise<void>((r) => s.connect(proxy.port, '127.0.0.1', () => r()));
    return { s, received: () => received };
  };

  it('forwards, holds traffic of old and new connections while partitioned, and delivers it on heal', async () => {
    await start();
    const a = await open();
    a.s.write('one');
    await sleep(100);
    expect(a.received()).toBe('one');

    proxy.partition();
    a.s.write('two');
    const b = await open();
    b.s.write('three');
    await sleep(300);
    expect([a.received(), b.received()]).toEqual(['one', '']);

    proxy.heal();
    await sleep(300);
    expect([a.received(), b.received()]).toEqual(['onetwo', 'three']);
  });
});
