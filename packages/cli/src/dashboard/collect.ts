/**
 * One sample of the cluster for the dashboard: the DCS read, then every member's GET /patroni and
 * GET /decisions and the leader's GET /metrics, side by side, with the CLI's API client (its
 * auth and TLS settings). Only reads: no DCS write, no mutating call. A member that does not
 * answer is a probe with an error, never a failed sample; a DCS that does not answer is a
 * sample without a cluster.
 */
import type { Cluster, Member } from '@pgha/dcs';
import { decisionRecordsOf } from '../explain.js';
import type { ApiClient } from '../member-api.js';
import { lockRenewalAge, type DashboardSample, type MemberProbe } from './view.js';

export interface Collector {
  loadCluster(): Promise<Cluster>;
  api: ApiClient;
  now(): number;
}

/** Decision records asked of each member per sample: enough for the page's lists. */
const DECISIONS_PER_MEMBER = 50;

async function getJson(api: ApiClient, m: Member, endpoint: string): Promise<unknown> {
  const r = await api(m, { method: 'GET', endpoint });
  if (r.status !== 200) throw new Error(`GET /${endpoint} answered ${r.status}`);
  return JSON.parse(r.body) as unknown;
}

async function probe(api: ApiClient, m: Member): Promise<MemberProbe> {
  const [status, decisions] = await Promise.allSettled([getJson(api, m, 'patroni'), getJson(api, m, `decisions?limit=${DECISIONS_PER_MEMBER}`)]);
  const body = status.status === 'fulfilled' && typeof status.value === 'object' && status.value !== null ? (status.value as Record<string, unknown>) : null;
  return {
    name: m.name,
    status: body,
    error: status.status === 'rejected' ? (status.reason as Error).message : body ? null : 'GET /patroni did not answer a JSON object',
    decisions: decisions.status === 'fulfilled' ? decisionRecordsOf(decisions.value) : null,
  };
}

async function renewalAge(api: ApiClient, leader: Member | undefined): Promise<number | null> {
  if (!leader) return null;
  try {
    const r = await api(leader, { method: 'GET', endpoint: 'metrics' });
    return r.status === 200 ? lockRenewalAge(r.body) : null;
  } catch {
    return null;
  }
}

export async function collectSample(scope: string, c: Collector): Promise<DashboardSample> {
  let cluster: Cluster;
  try {
    cluster = await c.loadCluster();
  } catch (e) {
    return { scope, cluster: null, dcsError: (e as Error).message, probes: [], lockRenewalAgeS: null, now: c.now() };
  }
  const leader = cluster.members.find((m) => m.name === cluster.leader?.name);
  const [probes, age] = await Promise.all([Promise.all(cluster.members.map((m) => probe(c.api, m))), renewalAge(c.api, leader)]);
  return { scope, cluster, dcsError: null, probes, lockRenewalAgeS: age, now: c.now() };
}
