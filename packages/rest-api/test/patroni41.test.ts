// Patroni 4.1's fields (pgha issue #17): the quorum standby role, and the metrics
// patroni_quorum_standby, patroni_failsafe_member and patroni_postgres_state, printed as Patroni does.
import { describe, expect, it } from 'vitest';
import type { Cluster } from '@pgha/dcs';
import { clusterView } from '../src/cluster-view.js';
import { renderPatroniMetrics } from '../src/metrics.js';
import { cluster, snapshot } from './fixtures.js';

const syncCluster = (mode: unknown, over: Partial<Cluster> = {}): Cluster =>
  cluster({
    config: { version: '1', value: { synchronous_mode: mode } },
    sync: { version: '1', value: { leader: 'pg0', sync_standby: ['pg1'], quorum: mode === 'quorum' ? 1 : 0 } },
    ...over,
  });

function metric(text: string, name: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`${name}{`));
}

describe('Patroni 4.1: quorum standby', () => {
  it('shows a member of the /sync set as quorum_standby in quorum mode and sync_standby in on mode', () => {
    const roles = (c: Cluster) => clusterView(c, 'demo').members.map((m) => [m.name, m.role]);
    expect(roles(syncCluster('quorum'))).toEqual([['pg0', 'leader'], ['pg1', 'quorum_standby'], ['pg2', 'replica']]);
    expect(roles(syncCluster(true))).toEqual([['pg0', 'leader'], ['pg1', 'sync_standby'], ['pg2', 'replica']]);
    // No synchronous mode, or a standby cluster (which has none, as in Patroni): nobody is synchronous.
    expect(roles(syncCluster(false))).toEqual([['pg0', 'leader'], ['pg1', 'replica'], ['pg2', 'replica']]);
    const standby = syncCluster('quorum', { config: { version: '1', value: { synchronous_mode: 'quorum', standby_cluster: { host: '10.0.0.1', port: 5432 } } } });
    expect(roles(standby)).toEqual([['pg0', 'standby_leader'], ['pg1', 'replica'], ['pg2', 'replica']]);
  });

  it('reports patroni_quorum_standby and patroni_sync_standby from the mode', () => {
    const quorum = renderPatroniMetrics(snapshot({}, { cluster: syncCluster('quorum') }));
    expect(quorum).toContain('# HELP patroni_quorum_standby Value is 1 if this node is a quorum standby, 0 otherwise.\n# TYPE patroni_quorum_standby gauge');
    expect([metric(quorum, 'patroni_quorum_standby'), metric(quorum, 'patroni_sync_standby')]).toEqual([
      'patroni_quorum_standby{scope="demo",name="pg1"} 1',
      'patroni_sync_standby{scope="demo",name="pg1"} 0',
    ]);
    const on = renderPatroniMetrics(snapshot({}, { cluster: syncCluster('on') }));
    expect([metric(on, 'patroni_quorum_standby'), metric(on, 'patroni_sync_standby')]).toEqual([
      'patroni_quorum_standby{scope="demo",name="pg1"} 0',
      'patroni_sync_standby{scope="demo",name="pg1"} 1',
    ]);
  });
});

describe('Patroni 4.1 metrics', () => {
  it('reports patroni_failsafe_member from the failsafe key', () => {
    const inTopology = cluster({ failsafe: { version: '1', value: { pg0: 'http://127.0.0.1:8008/patroni', pg1: 'http://127.0.0.1:8009/patroni' } } });
    const text = renderPatroniMetrics(snapshot({}, { cluster: inTopology }));
    expect(text).toContain('# HELP patroni_failsafe_member Value is 1 if this node is a member of failsafe, 0 otherwise.\n# TYPE patroni_failsafe_member gauge');
    expect(metric(text, 'patroni_failsafe_member')).toBe('patroni_failsafe_member{scope="demo",name="pg1"} 1');
    const outside = cluster({ failsafe: { version: '1', value: { pg0: 'http://127.0.0.1:8008/patroni' } } });
    expect(metric(renderPatroniMetrics(snapshot({}, { cluster: outside })), 'patroni_failsafe_member')).toBe('patroni_failsafe_member{scope="demo",name="pg1"} 0');
    expect(metric(renderPatroniMetrics(snapshot({}, { cluster: null })), 'patroni_failsafe_member')).toBe('patroni_failsafe_member{scope="demo",name="pg1"} 0');
  });

  it("reports patroni_postgres_state with Patroni's indexes and legend, -1 for a state Patroni does not know", () => {
    const text = renderPatroniMetrics(snapshot({ state: 'running' }));
    expect(text.endsWith(
      [
        '# HELP patroni_postgres_state Numeric representation of Postgres state.',
        '# Values: initdb=0, initdb_failed=1, custom_bootstrap=2, custom_bootstrap_failed=3, creating_replica=4, running=5, starting=6, bootstrap_starting=7, start_failed=8, restarting=9, restart_failed=10, stopping=11, stopped=12, stop_failed=13, crashed=14',
        '# TYPE patroni_postgres_state gauge',
        'patroni_postgres_state{scope="demo",name="pg1"} 5',
      ].join('\n'),
    )).toBe(true);
    const states: [string, number][] = [['creating replica', 4], ['stopped', 12], ['crashed', 14], ['initializing new cluster', 0], ['something else', -1]];
    expect(states.map(([state]) => metric(renderPatroniMetrics(snapshot({ state })), 'patroni_postgres_state'))).toEqual(
      states.map(([, index]) => `patroni_postgres_state{scope="demo",name="pg1"} ${index}`),
    );
  });
});
