import { emptyCluster, type Cluster, type Member, type MemberData } from '@pgha/dcs';
import type { ApiSnapshot, PatroniStatus } from '../src/state.js';

export function member(name: string, data: Partial<MemberData> = {}): Member {
  return {
    name,
    version: '1',
    data: { role: 'replica', state: 'running', api_url: `http://127.0.0.1:8008/${name}`, tags: {}, extra: {}, ...data },
  };
}

export function cluster(over: Partial<Cluster> = {}): Cluster {
  return {
    ...emptyCluster(),
    leader: { name: 'pg0', version: '1' },
    members: [member('pg0', { role: 'primary' }), member('pg1'), member('pg2')],
    ...over,
  };
}

export function snapshot(status: Partial<PatroniStatus> = {}, over: Partial<ApiSnapshot> = {}): ApiSnapshot {
  return {
    status: { state: 'running', role: 'replica', patroni: { version: '0.1.0', scope: 'demo', name: 'pg1' }, tags: {}, ...status },
    hasLock: false,
    cluster: cluster(),
    lastCycleAt: 0,
    ttl: 30,
    maximumLagOnFailover: 1048576,
    ...over,
  };
}
