// Reading members' `GET /patroni` answers, and the HTTP probe over an injected fetch.
import { describe, expect, it } from 'vitest';
import { createHttpPeerProbe, peerStatusFromApi } from '../src/index.js';

describe('peerStatusFromApi', () => {
  it('reads a primary (wal.location present)', () => {
    const json = { state: 'running', role: 'master', xlog: { location: 67_395_656 }, timeline: 3, tags: { nofailover: false } };
    expect(peerStatusFromApi('pg0', json)).toEqual({
      name: 'pg0',
      reachable: true,
      inRecovery: false,
      walPosition: 67_395_656,
      timeline: 3,
      tags: { nofailover: false },
      watchdogFailed: false,
    });
  });

  it('reads a replica as max(received, replayed)', () => {
    const json = { role: 'replica', xlog: { received_location: 100, replayed_location: 90, paused: false }, timeline: 2, watchdog_failed: true };
    expect(peerStatusFromApi('pg1', json)).toMatchObject({ inRecovery: true, walPosition: 100, timeline: 2, watchdogFailed: true, tags: {} });
  });

  it('counts an answer without wal/xlog (PostgreSQL down) or garbage as unreachable', () => {
    expect(peerStatusFromApi('pg1', { state: 'stopped', role: 'replica' })).toMatchObject({ reachable: false, error: 'the answer has no wal/xlog section' });
    expect(peerStatusFromApi('pg1', 'Service Unavailable')).toMatchObject({ reachable: false });
    expect(peerStatusFromApi('pg1', [1, 2])).toMatchObject({ reachable: false });
  });
});

describe('createHttpPeerProbe', () => {
  it('probes all targets in parallel and bounds each by the timeout', async () => {
    const asked: string[] = [];
    const probe = createHttpPeerProbe({
      fetch: (url, init) => {
        asked.push(url);
        if (url.includes('pg2')) {
          // Never answers; only the abort ends it.
          return new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
        }
        if (url.includes('pg3')) return Promise.reject(new Error('connect ECONNREFUSED'));
        return Promise.resolve({ ok: true, status: 200, json: async () => ({ xlog: { received_location: 5, replayed_location: 5 }, timeline: 1 }) });
      },
    });
    const results = await probe.probe(
      [
        { name: 'pg1', apiUrl: 'http://pg1:8008/patroni' },
        { name: 'pg2', apiUrl: 'http://pg2:8008/patroni' },
        { name: 'pg3', apiUrl: 'http://pg3:8008/patroni' },
      ],
      { timeoutMs: 50, signal: new AbortController().signal },
    );
    expect(asked).toHaveLength(3);
    expect(results.map((r) => [r.name, r.reachable])).toEqual([
      ['pg1', true],
      ['pg2', false],
      ['pg3', false],
    ]);
    expect(results[2]?.error).toBe('GET http://pg3:8008/patroni: connect ECONNREFUSED');
  });
});
