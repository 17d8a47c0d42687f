/**
 * What a chaos run works on: the members (their REST API and a connection for the writer and the
 * probers) and the actions that inject faults. A local cluster (`local-target.ts`) can do every
 * action; a cluster the harness attaches to (`attach.ts`) does the ones it has commands for, and
 * only the faults whose actions are all available run.
 */
import type pg from 'pg';
import type { ClusterTiming, LinkShape } from '@pgha/local-cluster';
import { sleep } from '@pgha/primitives';

export interface ChaosMember {
  name: string;
  /** Base URL of the member's REST API, e.g. http://127.0.0.1:8008. */
  apiUrl: string;
  /** How the writer, the probers and the checks reach its PostgreSQL (as a superuser). */
  pg: pg.ClientConfig;
}

/** The actions faults are made of; each takes the member it is aimed at. */
export interface FaultActions {
  killAgent(m: ChaosMember): Promise<void>;
  startAgent(m: ChaosMember): Promise<void>;
  killPostmaster(m: ChaosMember): Promise<void>;
  stopAgent(m: ChaosMember): Promise<void>;
  contAgent(m: ChaosMember): Promise<void>;
  freezeDcs(): Promise<void>;
  thawDcs(): Promise<void>;
  killDcs(): Promise<void>;
  startDcs(): Promise<void>;
  /** Cut the member off from the DCS (both directions). */
  cutDcs(m: ChaosMember): Promise<void>;
  healDcs(m: ChaosMember): Promise<void>;
  /** Cut the member off from its peers: no peer reaches it, it reaches no peer. */
  cutPeers(m: ChaosMember): Promise<void>;
  healPeers(m: ChaosMember): Promise<void>;
  /** Move the member agent's wall clock by `offsetS` seconds from the true time (0: back). */
  setClockOffset(m: ChaosMember, offsetS: number): Promise<void>;
  /**
   * Start a second agent from a copy of the member's YAML with only its ports and data directory
   * changed (its `name` kept: the operator's mistake of issue 15), wait up to `timeoutMs` for it
   * to exit, stop it if it did not, and say what it did.
   */
  startDuplicate(m: ChaosMember, timeoutMs: number): Promise<{ exitCode: number | null; output: string }>;
  /** The raw value of one of the cluster's keys (null when absent), and a raw write of it. */
  readDcsKey(key: 'config' | `members/${string}`): Promise<string | null>;
  writeDcsKey(key: 'config', value: string): Promise<void>;
  // The namespace mode's actions (host-target.ts): hosts, one-way cuts, slow links.
  /** Drop the member's packets to the DCS (one way); `healDcs` undoes it. */
  cutDcsOut(m: ChaosMember): Promise<void>;
  /** Cut two members' hosts from each other (both ways), and heal it. */
  cutLink(a: ChaosMember, b: ChaosMember): Promise<void>;
  healLink(a: ChaosMember, b: ChaosMember): Promise<void>;
  slowDcs(m: ChaosMember, shape: LinkShape): Promise<void>;
  slowPeer(m: ChaosMember, shape: LinkShape): Promise<void>;
  clearLinks(): Promise<void>;
  /** The member's host dies with everything on it; `restartHost` brings it back. */
  crashHost(m: ChaosMember): Promise<void>;
  restartHost(m: ChaosMember): Promise<void>;
  /** The DCS leader moved to the server on the member's host (etcd; a no-op elsewhere). */
  moveDcsLeaderTo(m: ChaosMember): Promise<void>;
  /** SIGSTOP of the member's postmaster and all its backends (a hung server), and SIGCONT. */
  freezePostgres(m: ChaosMember): Promise<void>;
  thawPostgres(m: ChaosMember): Promise<void>;
  /** Moves the leadership of a 3-server DCS to another server; says from which to which. */
  changeDcsLeader(): Promise<string>;
  /** kill -9 of `n` servers of a 3-server DCS, followers before the leader; resolves with their indexes. */
  stopDcsServers(n: number): Promise<number[]>;
  startDcsServers(servers: readonly number[]): Promise<void>;
  /** `etcdctl compact` to the current revision (etcd only); resolves with that revision. */
  compactDcs(): Promise<number>;
  /** Writes a throw-away key `n` times directly on the DCS (moves etcd's revision on). */
  churnDcs(n: number): Promise<void>;
  /**
   * ZooKeeper only: holds the member's connections to every server until the ensemble expires its
   * session (its ephemeral member znode is gone), then heals; resolves with the ms that took.
   */
  expireDcsSession(m: ChaosMember, timeoutMs: number): Promise<number>;
}

export type ActionName = keyof FaultActions;

/** How the cluster replicates: `synchronous_mode` off, on, on with `synchronous_mode_strict`, or quorum. */
export type ReplicationMode = 'async' | 'on' | 'quorum' | 'strict';
export const MODES: readonly ReplicationMode[] = ['async', 'on', 'quorum', 'strict'];

export interface ChaosTarget {
  /** Where it runs, for the run's first line. */
  description: string;
  members: ChaosMember[];
  mode: ReplicationMode;
  timing: ClusterTiming;
  /** `maximum_lag_on_failover` of the cluster, bytes. */
  maximumLagOnFailover: number;
  actions: Partial<FaultActions>;
  /** Brings back whatever a fault left stopped, as an init system would. */
  restartStopped(): Promise<void>;
  close(): Promise<void>;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> | null } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
    return { status: res.status, body };
  } catch {
    return null;
  }
}

/** GET /patroni of the member, or null when its API does not answer. */
export async function memberStatus(m: ChaosMember): Promise<Record<string, unknown> | null> {
  return (await getJson(`${m.apiUrl}/patroni`))?.body ?? null;
}

/** The member whose API says it is the running primary holding the lock, waiting up to `timeoutMs`. */
export async function waitForPrimary(members: readonly ChaosMember[], timeoutMs: number, exclude?: string): Promise<ChaosMember> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const m of members) {
      if (m.name === exclude) continue;
      const s = await memberStatus(m);
      if (s && (s['role'] === 'master' || s['role'] === 'primary') && s['state'] === 'running') {
        if ((await getJson(`${m.apiUrl}/primary`))?.status === 200) return m;
      }
    }
    if (Date.now() > deadline) throw new Error(`no primary holding the leader lock within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(200);
  }
}

/** `GET /cluster` lists a synchronous standby (on, strict and quorum modes). */
export async function hasSyncStandby(primary: ChaosMember): Promise<boolean> {
  return (await syncStandbys(primary)).length > 0;
}

/** The members `GET /cluster` of `primary` calls synchronous (or quorum) standbys: the sync key's. */
export async function syncStandbys(primary: ChaosMember): Promise<string[]> {
  const body = (await getJson(`${primary.apiUrl}/cluster`))?.body as { members?: { name?: string; role?: string }[] } | null | undefined;
  return (body?.members ?? []).filter((m) => m.role === 'sync_standby' || m.role === 'quorum_standby').map((m) => m.name ?? '');
}
