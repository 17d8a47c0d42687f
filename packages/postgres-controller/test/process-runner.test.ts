import { describe, expect, it } from 'vitest';
import { createNodeProcessRunner } from '../src/index.js';
import { processAlive } from '../src/postmaster-pid.js';

const runner = createNodeProcessRunner();

describe('the Node process runner', () => {
  it('streams lines split on newlines and carriage returns, and keeps the tail as output', async () => {
    const lines: string[] = [];
    const result = await runner.run('sh', ['-c', 'printf "a\\nprogress 1\\rprogress 2\\r" ; echo oops >&2; exit 4'], {
      timeoutMs: 10_000,
      onLine: (line, stream) => lines.push(`${stream}:${line}`),
    });
    expect(result).toMatchObject({ code: 4, signal: null, timedOut: false, aborted: false });
    expect(lines).toEqual(['stdout:a', 'stdout:progress 1', 'stdout:progress 2', 'stderr:oops']);
    expect(result.output).toContain('oops');
  });

  it('passes stdin and environment overrides', async () => {
    process.env.PGHA_TEST_REMOVED = 'present';
    const result = await runner.run('sh', ['-c', 'read x; echo "$x-$PGHA_TEST_SET-${PGHA_TEST_REMOVED:-gone}"'], {
      timeoutMs: 10_000,
      stdin: 'hello\n',
      env: { PGHA_TEST_SET: 'set', PGHA_TEST_REMOVED: undefined },
    });
    delete process.env.PGHA_TEST_REMOVED;
    expect(result.output).toBe('hello-set-gone');
  });

  // pgha issue 15 (H5): a timer over 2^31 - 1 ms fires after 1 ms in Node; a huge pg_ctl_timeout
  // must not kill every command at once.
  it('does not kill a command at once when its timeout is beyond what a Node timer holds', async () => {
    const result = await runner.run('sh', ['-c', 'sleep 0.2; echo done'], { timeoutMs: 3e9 });
    expect(result).toMatchObject({ code: 0, timedOut: false, output: 'done' });
  });

  it('kills the whole process group when the deadline passes', async () => {
    const result = await runner.run('sh', ['-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    const grandchild = Number(result.output.trim());
    expect(grandchild).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(await processAlive(grandchild)).toBe(false);
  });

  it('stops a command when its signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await runner.run('sleep', ['30'], { timeoutMs: 30_000, signal: controller.signal });
    expect(result).toMatchObject({ aborted: true, timedOut: false, code: null, signal: 'SIGTERM' });
  });

  it('rejects when the program does not exist', async () => {
    await expect(runner.run('/nonexistent/program', [], { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(runner.spawn('/nonexistent/program', [], {})).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports the exit of a spawned process the moment it happens', async () => {
    const child = await runner.spawn('sh', ['-c', 'echo started; sleep 30'], {});
    expect(await processAlive(child.pid)).toBe(true);
    // Killed only once its output is in: under load `sh` may not have run `echo` yet.
    await expect.poll(() => child.output()).toBe('started');
    child.kill('SIGKILL', { group: true });
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(child.output()).toBe('started');
  });

  it('signals a process by pid, or its whole group, and says when there is none', async () => {
    const child = await runner.spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], {});
    await expect.poll(() => child.output()).toMatch(/^\d+$/);
    const grandchild = Number(child.output());
    expect(runner.signal(child.pid, 'SIGKILL', { group: true })).toBe(true);
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await expect.poll(() => processAlive(grandchild)).toBe(false);
    expect(runner.signal(child.pid, 'SIGTERM')).toBe(false);
  });
});
