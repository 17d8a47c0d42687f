// The ZooKeeper session child's error events (issue #15, review H7 and §9 case 30): a child or
// stream can emit 'error' more than once, and the child can die with calls in flight. None of it
// may become an uncaught exception in the agent (vitest fails the file on one).
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock } from '@pgha/dcs';
import { ZooKeeperSession, type SessionEnd } from '../src/session-client.js';

/** A loopback port with nothing listening: the session keeps trying to connect. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

async function session(): Promise<{ s: ZooKeeperSession; child: ChildProcess; ended: SessionEnd[]; logs: string[] }> {
  const ended: SessionEnd[] = [];
  const logs: string[] = [];
  const s = new ZooKeeperSession({
    connect: `127.0.0.1:${await deadPort()}`,
    timeoutMs: 4000,
    auth: [],
    clock: systemClock,
    events: { connected: () => {}, connecting: () => {}, fired: () => {}, ended: (e) => ended.push(e), log: (_l, m) => logs.push(m) },
  });
  return { s, child: (s as unknown as { child: ChildProcess }).child, ended, logs };
}

describe('ZooKeeper session child errors', () => {
  it("a second 'error' on the child, and an 'error' on its stderr, are handled: the session ends once", async () => {
    const { s, child, ended, logs } = await session();
    child.emit('error', new Error('spawn failed'));
    child.emit('error', new Error('channel closed'));
    child.stderr?.emit('error', new Error('EPIPE'));
    expect(s.state).toBe('ended');
    expect(ended).toEqual([{ kind: 'exited', code: null, signal: null, error: 'spawn failed' }]);
    expect(logs).toEqual(['ZooKeeper session process: channel closed', 'ZooKeeper session process stderr: EPIPE']);
    await s.end(false);
  });

  it('the child killed with 20 calls in flight: every call resolves as ended, nothing throws', async () => {
    const { s, child } = await session();
    await new Promise((r) => setTimeout(r, 200));
    const calls = Array.from({ length: 20 }, (_, i) => s.call({ op: 'get', path: `/service/x/members/m${i}` }, 10_000));
    child.kill('SIGKILL');
    const more = Array.from({ length: 20 }, (_, i) => s.call({ op: 'get', path: `/service/x/k${i}` }, 10_000));
    const results = await Promise.all([...calls, ...more]);
    expect(new Set(results.map((r) => r.kind))).toEqual(new Set(['ended']));
    expect(s.state).toBe('ended');
    await s.end(false);
  });
});
