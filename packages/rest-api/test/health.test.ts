import { describe, expect, it } from 'vitest';
import { healthStatus, parseSize } from '../src/health.js';
import { renderReceiverMetrics } from '../src/metrics.js';
import { cluster, snapshot } from './fixtures.js';

const q = (s = '') => new URLSearchParams(s);
const primary = snapshot({ role: 'master', patroni: { version: '0', scope: 'demo', name: 'pg0' } }, { hasLock: true });
const replica = snapshot({ xlog: { received_location: 5000, replayed_location: 4000 } });

describe('health checks', () => {
  it('answers the primary checks only for the lock holder running as primary', () => {
    for (const path of ['/', '/primary', '/master', '/read-write', '/leader']) {
      expect([path, healthStatus(path, q(), primary, 0)]).toEqual([path, 200]);
      expect([path, healthStatus(path, q(), replica, 0)]).toEqual([path, 503]);
    }
    // A primary that lost the lock is not the primary any more for load balancers.
    expect(healthStatus('/primary', q(), { ...primary, hasLock: false }, 0)).toBe(503);
    expect(healthStatus('/primary', q(), snapshot({ role: 'primary', state: 'stopped' }, { hasLock: true }), 0)).toBe(503);
  });

  it('answers the replica checks for a running replica, honouring noloadbalance, lag, tags and replication state', () => {
    expect(healthStatus('/replica', q(), replica, 0)).toBe(200);
    expect(healthStatus('/read-only', q(), replica, 0)).toBe(200);
    expect(healthStatus('/read-only', q(), primary, 0)).toBe(200);
    expect(healthStatus('/replica', q(), primary, 0)).toBe(503);
    expect(healthStatus('/replica', q(), snapshot({ tags: { noloadbalance: true } }), 0)).toBe(503);
    expect(healthStatus('/replica', q(), snapshot({ state: 'starting' }), 0)).toBe(503);

    const lagging = snapshot(
      { xlog: { replayed_location: 1000 } },
      { cluster: cluster({ status: { version: '1', value: { optime: 3 * 1024 * 1024, slots: {}, retain_slots: [] } } }) },
    );
    expect(healthStatus('/replica', q('lag=1MB'), lagging, 0)).toBe(503);
    expect(healthStatus('/replica', q('lag=10MB'), lagging, 0)).toBe(200);
    expect(healthStatus('/replica', q(), lagging, 0)).toBe(200);

    // WAL received but not replayed counts for the engine's candidate checks, not here: the API
    // measures the replayed position, as Patroni's does (core/wal-position.ts LagMeasure).
    const receivedAhead = snapshot(
      { replication_state: 'streaming', xlog: { received_location: 3 * 1024 * 1024, replayed_location: 1000 } },
      { cluster: cluster({ status: { version: '1', value: { optime: 3 * 1024 * 1024, slots: {}, retain_slots: [] } } }) },
    );
    expect(healthStatus('/replica', q('lag=1MB'), receivedAhead, 0)).toBe(503);
    expect(healthStatus('/readiness', q('lag=1MB'), receivedAhead, 0)).toBe(503);
    expect(healthStatus('/readiness', q('lag=10MB'), receivedAhead, 0)).toBe(200);

    const tagged = snapshot({ tags: { dc: 'east' } });
    expect(healthStatus('/replica', q('tag_dc=east'), tagged, 0)).toBe(200);
    expect(healthStatus('/replica', q('tag_dc=west'), tagged, 0)).toBe(503);
    expect(healthStatus('/replica', q('tag_rack=1'), tagged, 0)).toBe(503);

    const streaming = snapshot({ replication_state: 'streaming' });
    expect(healthStatus('/replica', q('replication_state=streaming'), streaming, 0)).toBe(200);
    expect(healthStatus('/replica', q('replication_state=streaming'), replica, 0)).toBe(503);
  });

  it('tells synchronous from asynchronous replicas by the sync key', () => {
    const sync = cluster({
      config: { version: '1', value: { synchronous_mode: true } },
      sync: { version: '1', value: { leader: 'pg0', sync_standby: ['pg1'], quorum: 0 } },
    });
    const pg1 = snapshot({}, { cluster: sync });
    const pg2 = snapshot({ patroni: { version: '0', scope: 'demo', name: 'pg2' } }, { cluster: sync });
    expect([healthStatus('/sync', q(), pg1, 0), healthStatus('/async', q(), pg1, 0)]).toEqual([200, 503]);
    expect([healthStatus('/sync', q(), pg2, 0), healthStatus('/async', q(), pg2, 0)]).toEqual([503, 200]);
    expect(healthStatus('/read-only-sync', q(), primary, 0)).toBe(200);
    expect(healthStatus('/quorum', q(), pg1, 0)).toBe(503);
    // As Patroni: a /sync key left over after synchronous_mode was switched off makes nobody synchronous.
    const off = snapshot({}, { cluster: { ...sync, config: { version: '2', value: {} } } });
    expect([healthStatus('/sync', q(), off, 0), healthStatus('/async', q(), off, 0)]).toEqual([503, 200]);
  });

  it('answers /quorum and /read-only-quorum for a quorum standby (Patroni 4.1), not /sync', () => {
    const quorum = cluster({
      config: { version: '1', value: { synchronous_mode: 'quorum' } },
      sync: { version: '1', value: { leader: 'pg0', sync_standby: ['PG1', 'pg2'], quorum: 1 } },
    });
    const pg1 = snapshot({}, { cluster: quorum });
    const pg3 = snapshot({ patroni: { version: '0', scope: 'demo', name: 'pg3' } }, { cluster: quorum });
    const paths = ['/quorum', '/read-only-quorum', '/sync', '/async'];
    expect(paths.map((p) => healthStatus(p, q(), pg1, 0))).toEqual([200, 200, 503, 503]);
    expect(paths.map((p) => healthStatus(p, q(), pg3, 0))).toEqual([503, 503, 503, 200]);
  });

  it('answers health, liveness and readiness', () => {
    expect(healthStatus('/health', q(), replica, 0)).toBe(200);
    expect(healthStatus('/health', q(), snapshot({ state: 'stopped' }), 0)).toBe(503);
    const cycle = snapshot({}, { lastCycleAt: 1000, ttl: 30 });
    expect(healthStatus('/liveness', q(), cycle, 1000 + 59_000)).toBe(200);
    expect(healthStatus('/liveness', q(), cycle, 1000 + 61_000)).toBe(503);
    expect(healthStatus('/readiness', q(), primary, 0)).toBe(200);
    const streaming = snapshot({ replication_state: 'streaming', xlog: { received_location: 5000, replayed_location: 4000 } });
    expect(healthStatus('/readiness', q(), streaming, 0)).toBe(200);
    // Patroni 4.1: a replica that does not stream is not ready, nor one without a DCS read...
    expect(healthStatus('/readiness', q(), replica, 0)).toBe(503);
    expect(healthStatus('/readiness', q(), snapshot({ replication_state: 'streaming' }, { cluster: null }), 0)).toBe(503);
    // ...unless failsafe mode keeps it.
    expect(healthStatus('/readiness', q(), snapshot({ replication_state: 'streaming', failsafe_mode_is_active: true }, { cluster: null }), 0)).toBe(200);
    // The lock holder is ready whatever PostgreSQL says (it only got the lock once up).
    expect(healthStatus('/readiness', q(), snapshot({ role: 'master', state: 'starting' }, { hasLock: true }), 0)).toBe(200);
  });

  it('measures /readiness lag on replayed WAL, or on received WAL with ?mode=write (Patroni 4.1)', () => {
    const behind = snapshot(
      { replication_state: 'streaming', xlog: { received_location: 10_000, replayed_location: 1000 } },
      { cluster: cluster({ status: { version: '1', value: { optime: 10_500, slots: {}, retain_slots: [] } } }), maximumLagOnFailover: 1000 },
    );
    // Replay is 9500 bytes behind, receive 500.
    expect(healthStatus('/readiness', q(), behind, 0)).toBe(503);
    expect(healthStatus('/readiness', q('mode=apply'), behind, 0)).toBe(503);
    expect(healthStatus('/readiness', q('mode=write'), behind, 0)).toBe(200);
    expect(healthStatus('/readiness', q('mode=write&lag=100'), behind, 0)).toBe(503);
    expect(healthStatus('/readiness', q('lag=10kB'), behind, 0)).toBe(200);
    // An unreadable lag falls back to maximum_lag_on_failover, as Patroni's parse_int does.
    expect(healthStatus('/readiness', q('mode=write&lag=lots'), behind, 0)).toBe(200);
    expect(healthStatus('/readiness', q('lag=lots'), behind, 0)).toBe(503);
  });

  it('a replica past replica_not_streaming_timeout without streaming is not replicating (issue 18)', () => {
    // Streaming as far as the server's last state read knew (Patroni 4.1's readiness asks for it).
    const streaming = snapshot({ replication_state: 'streaming', xlog: { received_location: 5000, replayed_location: 4000 } });
    const stale = { ...streaming, notStreaming: { upstream: 'pg0', seconds: 50, unhealthy: true } };
    const within = { ...streaming, notStreaming: { upstream: 'pg0', seconds: 5, unhealthy: false } };
    for (const path of ['/replica', '/read-only', '/async', '/asynchronous', '/readiness']) {
      expect([path, healthStatus(path, q(), stale, 0)]).toEqual([path, 503]);
      expect([path, healthStatus(path, q(), within, 0)]).toEqual([path, 200]);
    }
    expect(healthStatus('/replica', q('lag=1TB'), stale, 0)).toBe(503);
    // Patroni's /health is "PostgreSQL runs"; asked with a lag bound, it cannot vouch for one.
    expect(healthStatus('/health', q(), stale, 0)).toBe(200);
    expect(healthStatus('/health', q('lag=1MB'), stale, 0)).toBe(503);
    expect(healthStatus('/health', q('lag=1MB'), within, 0)).toBe(200);
    // A leader is never judged by it (the engine reports it for replicas only).
    expect(healthStatus('/read-only', q(), { ...primary, notStreaming: null }, 0)).toBe(200);
  });

  it('is not a health check for other paths', () => {
    expect(healthStatus('/patroni', q(), replica, 0)).toBeNull();
    expect(healthStatus('/nonsense', q(), replica, 0)).toBeNull();
  });

  it('parses sizes the way Patroni documents them', () => {
    expect([parseSize('1048576'), parseSize('16kB'), parseSize('10MB'), parseSize('1GB')]).toEqual([1048576, 16384, 10485760, 1073741824]);
    expect(parseSize('ten')).toBeNull();
  });
});

describe('the replica-streaming gauges', () => {
  it('say how long a replica has not streamed and whether it is past the bound', () => {
    const text = renderReceiverMetrics({ ...replica, notStreaming: { upstream: 'pg0', seconds: 50, unhealthy: true } });
    expect(text).toContain('pgha_replica_not_streaming_seconds{scope="demo",name="pg1"} 50');
    expect(text).toContain('pgha_replica_not_streaming_unhealthy{scope="demo",name="pg1"} 1');
  });
});
