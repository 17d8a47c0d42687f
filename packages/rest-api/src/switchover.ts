/**
 * POST /switchover and POST /failover, as Patroni answers them. The API never acts on PostgreSQL:
 * it validates the request against the cluster, records the intent in the DCS `failover` key,
 * wakes the local HA loop and waits for the leader key to show the outcome.
 */
import type { Cluster, Failover } from '@pgha/dcs';
import { manualFailoverProblem, pausedRequestProblem, type ManualAction } from '@pgha/ha-engine';

export type { ManualAction } from '@pgha/ha-engine';

export interface SwitchoverPorts {
  /** A fresh read of the cluster from the DCS. */
  loadCluster(): Promise<Cluster>;
  /** Writes the `failover` key; false when a CAS failed. */
  setFailover(failover: Failover): Promise<boolean>;
  /** Wakes the local HA loop now. */
  wakeup(): void;
  /** Resolves on the next change of the leader or config key, or after `ms`. */
  waitForChange(ms: number): Promise<void>;
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall-clock now, for scheduled switchovers. */
  wallNow(): Date;
  /** loop_wait in seconds (the wait for the outcome is 2 × max(10, loop_wait) s, as Patroni). */
  loopWait(): number;
}

/** A management call's answer: status and body (text/html unless `type` says otherwise). */
export interface ApiAnswer {
  status: number;
  text: string;
  /** Content type; `text/html` (Patroni's for plain messages) when absent. */
  type?: string;
}

interface Request {
  leader?: string;
  candidate?: string;
  scheduledAt?: string;
}

function readRequest(body: Record<string, unknown>): Request | ApiAnswer {
  const pick = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = body[k];
      if (v === undefined || v === null || v === '') continue;
      if (typeof v !== 'string') return undefined;
      return v;
    }
    return undefined;
  };
  for (const k of ['leader', 'master', 'candidate', 'member', 'scheduled_at']) {
    const v = body[k];
    if (v !== undefined && v !== null && typeof v !== 'string') return { status: 400, text: `${k}: expected a string` };
  }
  return { leader: pick('leader', 'master'), candidate: pick('candidate', 'member'), scheduledAt: pick('scheduled_at') };
}

const isAnswer = (v: Request | ApiAnswer): v is ApiAnswer => 'status' in v;

/** Parses a `scheduled_at` / `schedule` timestamp as Patroni does: ISO 8601 with an offset, not in the past. */
export function parseSchedule(text: string, now: Date, action: 'switchover' | 'restart' = 'switchover'): Date | ApiAnswer {
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(text.trim())) {
    return { status: 400, text: `Timezone information is mandatory for the scheduled ${action}` };
  }
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return { status: 422, text: 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601' };
  if (at.getTime() < now.getTime()) return { status: 422, text: `Cannot schedule ${action} in the past` };
  return at;
}

/** Handles POST /switchover and POST /failover. `action` is the path's verb. */
export async function requestManualFailover(
  ports: SwitchoverPorts,
  path: ManualAction,
  body: Record<string, unknown>,
): Promise<ApiAnswer> {
  const req = readRequest(body);
  if (isAnswer(req)) return req;
  // Patroni treats a /failover body naming the leader as a switchover.
  const action: ManualAction = path === 'failover' && req.leader ? 'switchover' : path;

  if (action === 'failover' && !req.candidate) return { status: 400, text: 'Failover could be performed only to a specific candidate' };
  if (action === 'switchover' && !req.leader) return { status: 400, text: 'Switchover could be performed only from a specific leader' };
  if (path === 'failover' && req.scheduledAt) return { status: 400, text: "Failover can't be scheduled" };
  if (req.candidate && req.candidate === req.leader) return { status: 400, text: 'Switchover target and source are the same' };

  let cluster: Cluster;
  try {
    cluster = await ports.loadCluster();
  } catch (e) {
    return { status: 503, text: `DCS is not accessible: ${(e as Error).message}` };
  }
  // The rules are the engine's (core/manual-failover.ts), beside the race that carries them out.
  const scheduled = req.scheduledAt !== undefined && req.scheduledAt !== 'now';
  const paused = pausedRequestProblem(cluster, { ...req, scheduled });
  if (paused) return { status: 400, text: paused };
  let scheduledAt: Date | undefined;
  if (req.scheduledAt && scheduled) {
    const parsed = parseSchedule(req.scheduledAt, ports.wallNow());
    if (!(parsed instanceof Date)) return parsed;
    scheduledAt = parsed;
  }
  const impossible = manualFailoverProblem(cluster, req, action);
  if (impossible) return { status: 412, text: impossible };

  const failover: Failover = {};
  if (req.leader) failover.leader = req.leader;
  if (req.candidate) failover.member = req.candidate;
  if (scheduledAt) failover.scheduled_at = scheduledAt.toISOString();
  let written: boolean;
  try {
    written = await ports.setFailover(failover);
  } catch {
    written = false;
  }
  if (!written) return { status: 503, text: 'failed to write failover key into DCS' };
  if (scheduledAt) return { status: 202, text: `${action === 'switchover' ? 'Switchover' : 'Failover'} scheduled` };
  ports.wakeup();
  return awaitOutcome(ports, action, req.candidate, req.leader ?? cluster.leader?.name ?? null);
}

/** How long an apparent failure must persist before the API reports it (see awaitOutcome). */
const FAILURE_CONFIRM_MS = 500;

/** Waits for the leader key to name someone other than the old leader, or the intent to vanish. */
async function awaitOutcome(
  ports: SwitchoverPorts,
  action: ManualAction,
  candidate: string | undefined,
  oldLeader: string | null,
): Promise<ApiAnswer> {
  const verb = action === 'switchover' ? 'switch' : 'fail';
  const title = action === 'switchover' ? 'Switchover' : 'Failover';
  const limitMs = 2 * Math.max(10, ports.loopWait()) * 1000;
  const deadline = ports.now() + limitMs;
  let confirmingFailure: number | null = null;
  while (ports.now() < deadline) {
    // Woken by the DCS watch as soon as the leader key changes; the cap bounds a missed event.
    await ports.waitForChange(Math.min(250, Math.max(0, deadline - ports.now())));
    let cluster: Cluster;
    try {
      cluster = await ports.loadCluster();
    } catch {
      continue;
    }
    const leader = cluster.leader?.name;
    if (leader && leader !== oldLeader) {
      if (!candidate || candidate === leader) return { status: 200, text: `Successfully ${verb}ed over to "${leader}"` };
      return { status: 200, text: `${verb[0]!.toUpperCase()}${verb.slice(1)}ed over to "${leader}" instead of "${candidate}"` };
    }
    const pending = cluster.failover?.value;
    if (!pending || (!pending.leader && !pending.member)) {
      // The request is gone and nobody new holds the lock. Either the leader gave up on it, or
      // this read fell between two steps of the handover: the lock released and not yet taken,
      // or (ZooKeeper reads key by key) the old leader key read just before it was deleted and
      // the failover key just after the new leader cleared it. Only a second look that still
      // shows the old leader, after a moment, is a failure.
      if (!leader) continue;
      if (confirmingFailure === null) {
        confirmingFailure = ports.now();
        continue;
      }
      if (ports.now() - confirmingFailure >= FAILURE_CONFIRM_MS) return { status: 503, text: `${title} failed` };
      continue;
    }
    confirmingFailure = null;
  }
  return { status: 503, text: `${title} status unknown` };
}
