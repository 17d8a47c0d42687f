import { request } from 'node:http';
import { emptyCluster, systemClock, type Cluster, type ClusterStore, type Member, type MemberData } from '@pgha/dcs';
import type { ManagementPorts } from '../src/server.js';
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

/** The DCS side of the management endpoints on one store, with the wake-ups tests need (`loopWait` seconds). */
export function managementOn(store: ClusterStore, loopWait = 1): ManagementPorts {
  return {
    loadCluster: () => store.loadCluster(),
    setFailover: (f) => store.setFailover(f),
    clearFailover: (v) => store.clearFailover(v),
    setConfig: (c, v) => store.setConfig(c, v),
    wakeup: () => {},
    waitForChange: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
    now: () => systemClock.now(),
    wallNow: () => new Date(),
    loopWait: () => loopWait,
  };
}

/**
 * A raw request to a server on 127.0.0.1, with exactly the headers given (no Content-Type unless
 * named, as patronictl sends them) and a fresh connection, optionally from another loopback
 * address standing for another host.
 */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const length: Record<string, string> = body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) };
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...length, ...headers }, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
