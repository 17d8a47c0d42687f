// The retry loop on its own (pure logic, fake endpoints): rotation, the deadline, what is
// retried and what is not.
import { describe, expect, it } from 'vitest';
import { EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCUnavailableError, type Etcd3 } from 'etcd3';
import { isDcsError } from '@pgha/dcs';
import { CallRunner, LeaseGoneError, type Attempt, type Endpoint } from '../src/call-runner.js';

const endpoints: Endpoint[] = ['http://a:1', 'http://b:2', 'http://c:3'].map((url) => ({ url, client: {} as Etcd3 }));

function runner(opts: { closed?: () => boolean; leaseGone?: (id: string | undefined) => void } = {}): CallRunner {
  return new CallRunner(endpoints, { isClosed: opts.closed ?? (() => false), onLeaseGone: opts.leaseGone ?? (() => undefined) });
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error & { code?: string }) => e,
  );
}

describe('CallRunner', () => {
  it('moves to the next endpoint after a retryable failure and then sticks to the one that works', async () => {
    const r = runner();
    const seen: [string, boolean][] = [];
    const result = await r.run('op', 5000, async (a) => {
      seen.push([a.endpoint.url, a.uncertain]);
      if (a.endpoint.url === 'http://a:1') throw new GRPCUnavailableError('14 UNAVAILABLE: connection refused');
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(seen).toEqual([
      ['http://a:1', false],
      ['http://b:2', true],
    ]);
    const next: string[] = [];
    await r.run('op', 5000, async (a) => void next.push(a.endpoint.url));
    expect(next).toEqual(['http://b:2']);
  });

  it('gives each attempt a share of the budget, at least 1 s, as a gRPC deadline', async () => {
    const r = runner();
    // The deadline is Date.now() + share, read between `before` and `after`: the share lies in
    // [deadline - after, deadline - before] however long the call took, so no margin is needed.
    const share = async (budgetMs: number): Promise<{ atMost: number; atLeast: number }> => {
      let deadline = NaN;
      const before = Date.now();
      await r.run('op', budgetMs, async (a: Attempt) => void (deadline = a.options.deadline));
      const after = Date.now();
      return { atMost: deadline - before, atLeast: deadline - after };
    };
    // 6000 ms over three endpoints: 2000 ms each.
    const first = await share(6000);
    expect(first.atLeast).toBeLessThanOrEqual(2000);
    expect(first.atMost).toBeGreaterThanOrEqual(2000);
    // Never beyond the call's own budget, even though 1 s is the minimum share.
    expect((await share(600)).atLeast).toBeLessThanOrEqual(600);
  });

  it('rejects DCS_UNAVAILABLE at the deadline when attempts never answer, naming what it tried', async () => {
    const r = runner();
    const start = performance.now();
    const e = await failure(r.run('load', 300, () => new Promise<never>(() => undefined)));
    expect(isDcsError(e, 'DCS_UNAVAILABLE')).toBe(true);
    expect(e.message).toMatch(/^etcd3: load did not succeed within 300 ms \(tried http:\/\/a:1\): no answer before the deadline/);
    // Generous: only tells "stopped at its deadline" from "hangs".
    expect(performance.now() - start).toBeLessThan(3000);
  });

  it('keeps retrying failing endpoints until the budget is spent, reporting the last error', async () => {
    const r = runner();
    let attempts = 0;
    const e = await failure(
      r.run('write config', 400, async () => {
        attempts++;
        throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED');
      }),
    );
    expect(isDcsError(e, 'DCS_UNAVAILABLE')).toBe(true);
    expect(e.message).toContain('tried http://a:1, http://b:2, http://c:3');
    expect(e.message).toContain('4 DEADLINE_EXCEEDED');
    expect(attempts).toBeGreaterThan(3);
  });

  it('does not retry a permission error: DCS_REJECTED at once', async () => {
    const r = runner();
    let attempts = 0;
    const e = await failure(
      r.run('write config', 5000, async () => {
        attempts++;
        throw new EtcdPermissionDeniedError('etcdserver: permission denied');
      }),
    );
    expect(isDcsError(e, 'DCS_REJECTED')).toBe(true);
    expect(e.message).toBe('etcd3: write config refused by http://a:1: etcdserver: permission denied');
    expect(attempts).toBe(1);
  });

  it('reports a lost lease and retries on the same endpoint', async () => {
    const gone: (string | undefined)[] = [];
    const r = runner({ leaseGone: (id) => gone.push(id) });
    const urls: string[] = [];
    const result = await r.run('touchMember', 5000, async (a) => {
      urls.push(a.endpoint.url);
      if (urls.length === 1) throw new LeaseGoneError('42');
      return 'rewritten';
    });
    expect(result).toBe('rewritten');
    expect(gone).toEqual(['42']);
    expect(urls).toEqual(['http://a:1', 'http://a:1']);
  });

  it('rejects DCS_CLOSED without an attempt once closed', async () => {
    let attempts = 0;
    const e = await failure(runner({ closed: () => true }).run('load', 5000, async () => void attempts++));
    expect(isDcsError(e, 'DCS_CLOSED')).toBe(true);
    expect(attempts).toBe(0);
  });
});
