/**
 * The start-up check for a second agent with our `name` (pgha issue 15; Patroni >= 3.0.3 has
 * the same guard). The seed manual adds a node by copying another's YAML; a copy whose `name`
 * was not changed would share the other's member and leader keys. It runs before the agent
 * writes anything to the DCS or touches PostgreSQL.
 *
 * The rule. A member key with our name that is attached to a session (etcd lease, ZooKeeper
 * session) which is not ours is held by a client the server still counts as alive: both stores
 * delete a session's keys when it ends. That client is either another agent running with our
 * name, or this agent's previous run, which crashed less than a ttl ago and whose session has
 * not expired yet. To tell them apart:
 * - if the key's `api_url` answers HTTP at all, the other agent is running: refuse at once
 *   (Patroni's check; our own REST API is not listening yet, so it cannot be us);
 * - otherwise wait for the key to go, re-reading every second, for up to ttl + loop_wait seconds
 *   (the DCS `config` values, else the local bootstrap ones): a crashed run's session expires
 *   within ttl, so its key goes and we start. A key that is still there afterwards is being kept
 *   alive by someone: refuse.
 * One exception to waiting: when the key's conn_url and api_url are this agent's own and its API
 * is silent, it is this agent's previous run (another agent with our addresses would be
 * listening on our API port, and would answer): its session is adopted (DcsDriver.adoptSession),
 * so a leader restarted within ttl keeps its lock instead of letting it expire under a running
 * primary.
 * A key on no session (a persistent key someone wrote) or on a session of ours is no obstacle.
 * When the DCS cannot be read during that window, the agent starts with a warning: the drivers
 * themselves never take a key of another session (see `DcsDriver.renewLeader` and
 * `touchMember`), so a missed check cannot make two primaries.
 */
import { isDcsError, PghaError, type Cluster, type ClusterStore, type DcsDriver, type Member } from '@pgha/dcs';
import { engineTiming, type Clock, type PeerFetch } from '@pgha/ha-engine';
import type { Logger } from 'pino';

/** Thrown when another live agent holds our name; `bin.ts` prints the message as one line and exits 1. */
export class DuplicateNameError extends PghaError<'AGENT_DUPLICATE_NAME'> {
  constructor(message: string) {
    super('AGENT_DUPLICATE_NAME', message);
    this.name = 'DuplicateNameError';
  }
}

export interface UniqueNameCheck {
  name: string;
  scope: string;
  store: Pick<ClusterStore, 'loadCluster'>;
  driver: Pick<DcsDriver, 'ownsSession' | 'adoptSession'>;
  fetch: PeerFetch;
  headers?: Record<string, string>;
  clock: Clock;
  logger: Pick<Logger, 'warn' | 'info'>;
  /** This agent's own addresses, as it will publish them in its member key. */
  me?: { connUrl: string; apiUrl: string };
  /** Local ttl and loop_wait in seconds, used when the DCS has no `config` key yet. */
  ttl: number;
  loopWait: number;
}

const POLL_MS = 1000;
const PROBE_TIMEOUT_MS = 3000;

/** Resolves when the name is free for us; rejects DuplicateNameError when another live agent has it. */
export async function ensureUniqueName(o: UniqueNameCheck): Promise<void> {
  const started = o.clock.now();
  let waitMs = (o.ttl + o.loopWait) * 1000;
  let warned = false;
  for (;;) {
    let cluster: Cluster | null = null;
    try {
      cluster = await o.store.loadCluster();
    } catch (e) {
      if (!isDcsError(e)) throw e;
      if (o.clock.now() - started >= waitMs) {
        o.logger.warn({ err: e.message }, 'could not read the DCS to check that no other agent runs with our name; starting anyway');
        return;
      }
    }
    if (cluster) {
      waitMs = windowMs(cluster, o) ?? waitMs;
      const holder = foreignHolder(cluster, o);
      if (!holder) return;
      if (await answers(holder.data.api_url, o)) throw duplicate(holder, o, 'its REST API answers');
      if (o.me && holder.data.conn_url === o.me.connUrl && holder.data.api_url === o.me.apiUrl) {
        o.driver.adoptSession(holder.owner);
        o.logger.info({ owner: holder.owner }, `member key ${o.name} carries this agent's own addresses and its REST API is silent: a previous run of this agent; taking its keys over`);
        return;
      }
      if (o.clock.now() - started >= waitMs) throw duplicate(holder, o, `its key outlived ttl (${Math.round(waitMs / 1000)} s)`);
      if (!warned) {
        warned = true;
        o.logger.warn(
          { owner: holder.owner, api_url: holder.data.api_url ?? null },
          `member key ${o.name} is held by another session whose REST API does not answer; waiting up to ${Math.round(waitMs / 1000)} s for it to expire (a previous run of this agent that crashed?)`,
        );
      }
    }
    await o.clock.sleep(POLL_MS);
  }
}

/** Our member key, when another live session holds it. */
function foreignHolder(cluster: Cluster, o: UniqueNameCheck): (Member & { owner: string }) | null {
  const member = cluster.members.find((m) => m.name === o.name);
  if (!member || member.owner === undefined || o.driver.ownsSession(member.owner)) return null;
  return member as Member & { owner: string };
}

/** ttl + loop_wait of the DCS `config` key as the engine resolves it, in ms; null without the key. */
function windowMs(cluster: Cluster, o: UniqueNameCheck): number | null {
  const config = cluster.config?.value;
  if (!config) return null;
  // ttl and loop_wait as the engine runs them (the previous run's session was timed so).
  const timing = engineTiming(config);
  return (Math.max(timing.ttl, o.ttl) + timing.loopWait) * 1000;
}

/** Whether anything answers HTTP at `apiUrl` (any status: an agent that answers is alive). */
async function answers(apiUrl: string | undefined, o: UniqueNameCheck): Promise<boolean> {
  if (!apiUrl) return false;
  try {
    await o.fetch(apiUrl, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), ...(o.headers ? { headers: o.headers } : {}) });
    return true;
  } catch {
    return false;
  }
}

function duplicate(holder: Member, o: UniqueNameCheck, why: string): DuplicateNameError {
  // Values from the DCS: kept on one line whatever they contain.
  const oneLine = (v: string | undefined) => [...(v ?? '(none)')].map((c) => (c < ' ' || c === '\u007f' ? ' ' : c)).join('');
  const api = oneLine(holder.data.api_url);
  const conn = oneLine(holder.data.conn_url);
  return new DuplicateNameError(
    `refusing to start: another agent named ${o.name} is running in cluster ${o.scope} (api_url ${api}, conn_url ${conn}; ${why}); give this node its own name`,
  );
}
