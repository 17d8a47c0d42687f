/**
 * What every rule module works with: the snapshot plus the facts derived from it once per
 * decision (do we hold the lock, whom to follow, the pending failover request).
 */
import type { Cluster, Failover, Member } from '@pgha/dcs';
import { isCloneFrom, isNoStream, parseConnUrl, slotNameFromMemberName } from '@pgha/dcs';
import type { Action, DemoteAction, DemoteMode, FollowTarget, Otherwise } from '../actions.js';
import type { CandidateInput } from '../candidate.js';
import { pendingFailover } from '../candidate.js';
import type { ReasonCode } from '../reason-codes.js';
import type { EngineMemory, Snapshot } from '../snapshot.js';
import { replayLagMs } from '../replay-lag.js';
import { remotePrimaryTarget } from '../standby-cluster.js';

export interface Ctx {
  s: Snapshot;
  cluster: Cluster;
  me: string;
  /** The leader key names us. */
  holder: boolean;
  /** The lock holder's name, null when the lock is free. */
  leaderName: string | null;
  /** PostgreSQL runs and is writable. */
  isPrimary: boolean;
  /** The `failover` key, when it asks for something. */
  failover: Failover | null;
  candidate: CandidateInput;
  /** The memory carried into this decision, already updated with the last action's outcome. */
  memory: EngineMemory;
}

/** What a rule decides; decide.ts completes it into a Decision. */
export interface Outcome {
  /** The stable name of the outcome (reason-codes.ts). */
  code: ReasonCode;
  reason: string;
  actions: Action[];
  notes?: string[];
  memory?: Partial<EngineMemory>;
  wakeAfterMs?: number;
}

export function makeContext(s: Snapshot, cluster: Cluster, memory: EngineMemory): Ctx {
  const me = s.me.name;
  return {
    memory,
    s,
    cluster,
    me,
    holder: cluster.leader?.name === me,
    leaderName: cluster.leader?.name ?? null,
    isPrimary: s.local.running && !s.local.unknown && s.local.role === 'primary',
    failover: pendingFailover(cluster),
    candidate: {
      me: s.me,
      local: s.local,
      cluster,
      config: s.config,
      peers: s.peers,
      watchdogHealthy: s.watchdogHealthy,
      replayLagMs: replayLagMs(memory.replayLag, s.local),
    },
  };
}

/** `member` (named `name`) as a source to clone from, rewind from or follow, with our member slot. */
export function targetOf(ctx: Ctx, member: Member | undefined, name: string): FollowTarget {
  return withMemberSlot(ctx, { name, connUrl: member?.data.conn_url ?? null });
}

/**
 * `target` with our member slot when `use_slots` is on. The engine names the slot (the primary
 * creates it from the same rule, slots.ts), so the controller never derives it on its own. A
 * remote primary has its own slot setting, and a `nostream` member streams through none.
 */
function withMemberSlot(ctx: Ctx, target: FollowTarget): FollowTarget {
  if (!ctx.s.config.useSlots || target.remote || target.noStream) return target;
  return { ...target, slotName: slotNameFromMemberName(ctx.me) };
}

/**
 * Whom a replica streams from: a member (or the remote primary), or nobody. Nobody means a
 * read-only standby without `primary_conninfo`; `why` says why when a leader exists but cannot
 * be streamed from (its member key is missing or has no usable conn_url: an orphaned or hand-
 * written leader key). Such a leader must not keep a demoted primary down: it runs read-only,
 * following nobody, and the cycle's reason says why (review M5; Patroni does the same).
 */
export type FollowChoice = { kind: 'member'; target: FollowTarget } | { kind: 'none'; why: string | null };

/** `member` (named `name`) as a streaming upstream, or why it cannot be one. */
export function streamableTarget(member: Member | undefined, name: string): FollowChoice {
  if (!member) return { kind: 'none', why: `member ${name} does not exist` };
  const connUrl = member.data.conn_url ?? null;
  if (connUrl === null || parseConnUrl(connUrl) === null) {
    return { kind: 'none', why: `member ${name} has no usable conn_url (${JSON.stringify(connUrl)})` };
  }
  return { kind: 'member', target: { name, connUrl } };
}

/**
 * Whom a replica should stream from: the member named by our `replicatefrom` tag when it can be
 * streamed from, else the leader; nobody when there is no leader (or it is us) or the leader
 * cannot be streamed from. In a standby cluster the lock holder (the standby leader) streams
 * from the remote primary.
 */
export function followChoice(ctx: Ctx): FollowChoice {
  const choice = streamingChoice(ctx);
  if (choice.kind !== 'member') return choice;
  const target = isNoStream(ctx.s.me.tags) ? { ...choice.target, noStream: true } : choice.target;
  return { kind: 'member', target: withMemberSlot(ctx, target) };
}

/** `followChoice` as an action's `follow` (null = nobody). */
export function followTarget(ctx: Ctx): FollowTarget | null {
  const choice = followChoice(ctx);
  return choice.kind === 'member' ? choice.target : null;
}

/**
 * What a reason adds when there is a leader but it cannot be streamed from:
 * `; <what> because member X does not exist`; nothing otherwise.
 */
export function followingNobody(choice: FollowChoice, what = 'following nobody (read-only)'): string {
  return choice.kind === 'none' && choice.why ? `; ${what} because ${choice.why}` : '';
}

function streamingChoice(ctx: Ctx): FollowChoice {
  const standby = ctx.s.config.standbyCluster;
  if (ctx.holder && standby) return { kind: 'member', target: remotePrimaryTarget(standby) };
  const replicateFrom = ctx.s.me.tags['replicatefrom'];
  if (typeof replicateFrom === 'string' && replicateFrom !== ctx.me) {
    const m = ctx.cluster.members.find((x) => x.name === replicateFrom);
    const choice = m ? streamableTarget(m, m.name) : null;
    if (choice?.kind === 'member') return choice;
  }
  if (!ctx.leaderName || ctx.leaderName === ctx.me) return { kind: 'none', why: null };
  return streamableTarget(
    ctx.cluster.members.find((m) => m.name === ctx.leaderName),
    ctx.leaderName,
  );
}

/**
 * Where a new replica clones from (Patroni's `get_clone_member`): a running member tagged
 * `clonefrom`, else the leader. Patroni picks among tagged members at random; a hash of our name
 * keeps the choice deterministic while still spreading new members over the candidates.
 */
export function cloneSource(ctx: Ctx): { target: FollowTarget; role: 'leader' | 'replica' } | null {
  const tagged = ctx.cluster.members.filter(
    (m) => m.name !== ctx.me && m.name !== ctx.leaderName && isCloneFrom(m.data.tags) && m.data.state === 'running',
  );
  if (tagged.length > 0) {
    const pick = tagged[stableHash(ctx.me) % tagged.length] as Member;
    return { target: targetOf(ctx, pick, pick.name), role: 'replica' };
  }
  if (!ctx.leaderName || ctx.leaderName === ctx.me) return null;
  return {
    target: targetOf(ctx, ctx.cluster.members.find((m) => m.name === ctx.leaderName), ctx.leaderName),
    role: 'leader',
  };
}

function stableHash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h;
}

/** A demote action; `follow` is where the demoted server streams from afterwards. */
export function demote(mode: DemoteMode, follow: FollowTarget | null, preempt = false, label = `demote (${mode})`): DemoteAction {
  return { kind: 'demote', mode, follow: mode === 'offline' ? null : follow, label, preempt };
}

/** An outcome with no actions. */
export function only(code: ReasonCode, reason: string, notes: string[] = []): Outcome {
  return { code, reason, actions: [], notes };
}

export function otherwise(code: ReasonCode, reason: string, actions: Action[] = []): Otherwise {
  return { code, reason, actions };
}
