/**
 * How POST /switchover reads the outcome. The DCS is read key by key on ZooKeeper, so one read can
 * show the old leader key (read just before the old leader deleted it) with the failover key
 * already cleared by the new leader: that torn read must not be reported as a failed switchover.
 */
import { describe, expect, it } from 'vitest';
import { emptyCluster, type Cluster, type Failover } from '@pgha/dcs';
import { requestManualFailover, type SwitchoverPorts } from '../src/switchover.js';

function cluster(leader: string | null, failover: Failover | null): Cluster {
  const member = (name: string) => ({ name, version: '1', data: { role: 'replica', state: 'running', api_url: `http://${name}/patroni`, tags: {}, extra: {} } });
  return {
    ...emptyCluster(),
    leader: leader ? { name: leader, version: '1' } : null,
    members: [member('pg0'), member('pg1')] as unknown as Cluster['members'],
    failover: failover ? { value: failover, version: '2' } : null,
  };
}

/** Ports whose reads return `reads` in turn (the last one forever), on a fake clock. */
function ports(reads: Cluster[]): SwitchoverPorts {
  let now = 0;
  let i = 0;
  return {
    loadCluster: async () => reads[Math.min(i++, reads.length - 1)]!,
    setFailover: async () => true,
    wakeup: () => {},
    waitForChange: async (ms) => void (now += ms),
    now: () => now,
    wallNow: () => new Date(0),
    loopWait: () => 1,
  };
}

const request = { leader: 'pg0', candidate: 'pg1' };
const pending = { leader: 'pg0', member: 'pg1' };

describe('POST /switchover outcome', () => {
  it('succeeds when a torn read (old leader, request gone) is followed by the new leader', async () => {
    const answer = await requestManualFailover(ports([cluster('pg0', null), cluster('pg0', pending), cluster('pg0', null), cluster('pg1', null)]), 'switchover', request);
    expect(answer).toEqual({ status: 200, text: 'Successfully switched over to "pg1"' });
  });

  it('keeps waiting while the lock is free between the release and the next acquire', async () => {
    const answer = await requestManualFailover(ports([cluster('pg0', null), cluster(null, null), cluster(null, null), cluster(null, null), cluster('pg1', null)]), 'switchover', request);
    expect(answer).toEqual({ status: 200, text: 'Successfully switched over to "pg1"' });
  });

  it('fails when the old leader keeps the lock and the request stays gone', async () => {
    const answer = await requestManualFailover(ports([cluster('pg0', null), cluster('pg0', pending), cluster('pg0', null)]), 'switchover', request);
    expect(answer).toEqual({ status: 503, text: 'Switchover failed' });
  });
});
