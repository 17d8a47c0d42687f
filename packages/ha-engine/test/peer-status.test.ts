// Reading members' `GET /patroni` answers, and the HTTP probe over an injected fetch.
import { describe, expect, it } from 'vitest';
import { createHttpPeerProbe, MAX_PARALLEL_PEER_REQUESTS, peerStatusFromApi, type PeerFetch } from '../src/index.js';

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

describe('bounded probes (issue #15)', () => {
  it('probes and failsafe rounds run at most MAX_PARALLEL_PEER_REQUESTS requests at once, in order, under one deadline', async () => {
    let inFlight = 0;
    let peak = 0;
    const fetch: PeerFetch = async (url) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return { ok: true, status: 200, json: async () => ({ state: 'running', role: 'replica', xlog: { received_location: Number(url.split('/')[2]?.slice(1)) } }), text: async () => 'Accepted' };
    };
    const probe = createHttpPeerProbe({ fetch });
    // 300 bogus member keys: a DCS writer can add as many as he likes.
    const targets = Array.from({ length: 300 }, (_, i) => ({ name: `m${i}`, apiUrl: `http://m${i}/patroni` }));
    const results = await probe.probe(targets, { timeoutMs: 10_000, signal: new AbortController().signal });
    expect(peak).toBe(MAX_PARALLEL_PEER_REQUESTS);
    expect(results.map((r) => [r.name, r.walPosition])).toEqual(targets.map((t, i) => [t.name, i]));
    peak = 0;
    const acks = await probe.postFailsafe!(targets, { name: 'pg0', conn_url: 'x', api_url: 'y' }, { timeoutMs: 10_000, signal: new AbortController().signal });
    expect(peak).toBe(MAX_PARALLEL_PEER_REQUESTS);
    expect(acks.every((a) => a.accepted)).toBe(true);
  });

  it('members still waiting for a slot when the deadline passes count as unreachable, without waiting longer', async () => {
    const fetch: PeerFetch = (_url, init) =>
      new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    const probe = createHttpPeerProbe({ fetch });
    const targets = Array.from({ length: 40 }, (_, i) => ({ name: `m${i}`, apiUrl: `http://m${i}/patroni` }));
    const results = await probe.probe(targets, { timeoutMs: 50, signal: new AbortController().signal });
    expect(results.filter((r) => r.reachable)).toEqual([]);
    expect(results).toHaveLength(40);
    expect(results.at(-1)?.error).toBe('GET http://m39/patroni: not probed before the deadline');
  });
});
