/**
 * Synchronous replication on the leader (Patroni's `process_sync_replication`), run after every
 * `leader-with-lock` decision that keeps PostgreSQL running as primary.
 *
 * The leader picks the synchronous standbys and keeps `synchronous_standby_names` (SSN) and the
 * `sync` key in step, in the order that keeps "every member listed in `sync` holds every
 * acknowledged commit" true at every instant:
 * - a standby is added to SSN first, and published in `sync` only once PostgreSQL reports it
 *   synchronous (`pg_stat_replication.sync_state`) and it has flushed everything committed before
 *   that setting was seen in effect;
 * - a standby is removed from `sync` first (one guarded CAS write), then from SSN.
 * Quorum mode (`ANY k (...)`): the key also says how many other listed standbys a candidate needs
 * as votes, computed so that any voting set overlaps any set of standbys that acknowledged a
 * commit, under every SSN that may be in effect.
 */
import { isNoSync, syncPriority, type Cluster, type Member } from '@pgha/dcs';
import type { Action, SynchronousStandbySetting } from '../actions.js';
import { isLongAction } from '../actions.js';
import type { EngineConfig } from '../config.js';
import type { EngineMemory, LocalPostgresState, WalSenderState } from '../snapshot.js';
import { parseSynchronousStandbyNames, sameSynchronousSetting } from '../synchronous-standby-names.js';
import type { Ctx } from './context.js';

export interface SyncUpkeep {
  actions: Action[];
  notes: string[];
  memory: Partial<EngineMemory>;
  /** Run the next cycle this soon (ms): the `sync` key lags the setting the leader wants. */
  wakeAfterMs?: number;
}

/**
 * While the `sync` key lags the standbys the leader wants (a new setting just written, a standby
 * not yet reported synchronous or not yet past the setting's start), the leader looks again this
 * often instead of waiting for `loop_wait`: until the key names a synchronous standby, a dead
 * primary has no successor. Bounded by SYNC_WATCH_MS from when the lag began, so a standby that
 * never becomes synchronous costs a few seconds of quick cycles, not a busy loop.
 */
export const SYNC_RECHECK_MS = 250;
export const SYNC_WATCH_MS = 10_000;

const KEY_LOST = 'Synchronous replication key updated by someone else';

/** The standbys that may become synchronous, best first. */
export function pickSynchronousCandidates(input: {
  me: string;
  members: readonly Member[];
  local: LocalPostgresState;
  config: Pick<EngineConfig, 'maximumLagOnSyncnode'>;
  /** Standbys synchronous now (published or confirmed): preferred, so the choice does not flap. */
  current: ReadonlySet<string>;
}): WalSenderState[] {
  const byName = new Map(input.members.map((m) => [m.name.toLowerCase(), m]));
  const primaryLsn = input.local.lsn ?? 0;
  const maxLag = input.config.maximumLagOnSyncnode;
  const eligible = (input.local.replication ?? []).filter((r) => {
    const member = byName.get(r.name.toLowerCase());
    if (!member || member.name.toLowerCase() === input.me.toLowerCase() || r.state !== 'streaming') return false;
    if (isNoSync(member.data.tags)) return false;
    return maxLag < 0 || primaryLsn - position(r) <= maxLag;
  });
  const priority = (r: WalSenderState): number => syncPriority(byName.get(r.name.toLowerCase())?.data.tags ?? {});
  const isCurrent = (r: WalSenderState): number => (input.current.has(r.name.toLowerCase()) ? 1 : 0);
  return eligible.sort(
    (a, b) => priority(b) - priority(a) || isCurrent(b) - isCurrent(a) || position(b) - position(a) || a.name.localeCompare(b.name),
  );
}

function position(r: WalSenderState): number {
  return r.replayLsn ?? r.flushLsn ?? 0;
}

/**
 * The leader's synchronous-replication actions for this cycle (after the lock renewal, which
 * guards them: a failed renewal drops them).
 */
export function syncUpkeep(ctx: Ctx): SyncUpkeep {
  const { s, cluster } = ctx;
  const mode = s.config.synchronousMode;
  const key = cluster.sync;
  if (mode === 'off') {
    const actions: Action[] = [];
    const notes: string[] = [];
    if (key) {
      actions.push({ kind: 'delete_sync', expectVersion: key.version, otherwise: { code: 'sync.key-lost', reason: KEY_LOST, actions: [] } });
      notes.push('Disabled synchronous replication');
    }
    const managed = key !== null || (s.memory.syncSince ?? null) !== null;
    if (managed && parseSynchronousStandbyNames(s.local.synchronousStandbyNames) !== null) {
      actions.push({ kind: 'set_synchronous_standby_names', setting: null, otherwise: { code: 'sync.ssn-failed', reason: 'failed to set synchronous_standby_names', actions: [] } });
    }
    return { actions, notes, memory: { syncSince: null, syncLagSince: null } };
  }

  const inEffectText = s.local.synchronousStandbyNames ?? '';
  const inEffect = parseSynchronousStandbyNames(inEffectText);
  const lower = (n: string): string => n.toLowerCase();
  const ours = key !== null && key.value.leader !== null && lower(key.value.leader) === lower(ctx.me);
  const published = ours ? key.value.sync_standby : [];
  const publishedSet = new Set(published.map(lower));
  const inEffectNames = new Set((inEffect?.names ?? []).map(lower));
  // Synchronous now, as PostgreSQL sees it under the setting in effect ('*' publishes nobody).
  const confirmed = new Map(
    (s.local.replication ?? [])
      .filter((r) => r.state === 'streaming' && (r.syncState === 'sync' || r.syncState === 'quorum') && inEffectNames.has(lower(r.name)))
      .map((r) => [lower(r.name), r]),
  );

  const candidates = pickSynchronousCandidates({
    me: ctx.me,
    members: cluster.members,
    local: s.local,
    config: s.config,
    current: new Set([...publishedSet, ...confirmed.keys()]),
  });
  const count = s.config.synchronousNodeCount;
  const chosen = (mode === 'on' ? candidates.slice(0, count) : candidates).map((r) => memberName(cluster, r.name));
  const wanted: SynchronousStandbySetting =
    chosen.length > 0
      ? { kind: mode === 'on' ? 'priority' : 'any', count: mode === 'on' ? chosen.length : Math.min(count, chosen.length), names: chosen }
      : { kind: 'priority', count: 1, names: s.config.synchronousModeStrict ? ['*'] : [] };
  const changing = !sameSynchronousSetting(inEffect, wanted);
  const wantedSet = new Set(wanted.names.map(lower));

  // The setting in effect, first seen at which primary position: the bar a new standby must pass.
  const seen = s.memory.syncSince ?? null;
  const since = seen && seen.standbyNames === inEffectText ? seen : { standbyNames: inEffectText, lsn: s.local.lsn ?? Number.MAX_SAFE_INTEGER };
  const sinceEarlier = since === seen;

  const notes: string[] = [];
  const actions: Action[] = [];
  const keep = published.filter((n) => confirmed.has(lower(n)) && wantedSet.has(lower(n)));
  let next: string[];
  if (changing && mode === 'quorum' && ours) {
    // Quorum: while the setting changes, nobody leaves the key and the newly wanted standbys join
    // it at once. The votes computed below cover both settings, and a listed member outside a
    // setting counts against them, so this is safe; and it stays satisfiable. Shrinking the list
    // here (a departed standby dropped while the votes still reflect the old setting) could leave
    // a key no candidate can ever meet — one listed standby needing a vote — if the leader died
    // before the next cycle.
    const joining = wanted.names.filter((n) => n !== '*' && !publishedSet.has(lower(n)));
    next = [...published, ...joining];
  } else if (changing) {
    next = keep;
  } else {
    const added = [...confirmed.values()]
      .filter((r) => !publishedSet.has(lower(r.name)) && wantedSet.has(lower(r.name)))
      .filter((r) => sinceEarlier && (r.flushLsn ?? 0) >= since.lsn)
      .map((r) => memberName(cluster, r.name));
    next = [...keep, ...added];
  }
  const effective: Array<SynchronousStandbySetting | null> = changing ? [inEffect, wanted] : [inEffect];
  let quorum = requiredVotes(next, effective);
  if (mode === 'quorum' && ours && !changing && key !== null) {
    // Fewer votes, or a standby dropped: only once every standby left in the key holds all WAL
    // from before the setting in effect (commits acknowledged under an earlier setting may be on
    // a dropped standby alone, or on the others' but not this one). Until then the key stays.
    const lowering = quorum < key.value.quorum || published.some((n) => !next.some((m) => lower(m) === lower(n)));
    const current = (n: string): boolean => sinceEarlier && (confirmed.get(lower(n))?.flushLsn ?? -1) >= since.lsn;
    if (lowering && !next.every(current)) {
      next = [...published];
      quorum = key.value.quorum;
    }
  }
  if (mode === 'on' && quorum > 0) {
    // Leaving quorum mode: a listed standby might lack acknowledged commits; list nobody until
    // the priority setting is in effect.
    next = [];
    quorum = 0;
  }
  const keyMatches =
    ours && sameNames(published, next) && (key?.value.quorum ?? 0) === quorum;
  if (!keyMatches) {
    actions.push({
      kind: 'write_sync',
      leader: ctx.me,
      standbys: next,
      quorum,
      expectVersion: key?.version ?? null,
      otherwise: { code: 'sync.key-lost', reason: KEY_LOST, actions: [] },
    });
    if (next.length > 0) notes.push(`Synchronous standby status assigned to [${next.map((n) => `'${n}'`).join(', ')}]`);
  }
  if (changing) {
    actions.push({ kind: 'set_synchronous_standby_names', setting: wanted, otherwise: { code: 'sync.ssn-failed', reason: 'failed to set synchronous_standby_names', actions: [] } });
    if (chosen.length === 0 && s.config.synchronousModeStrict) {
      notes.push('No active replication connections from Patroni members and synchronous_mode_strict is requested. Commits will be delayed.');
    }
  }
  // The key lags what the leader wants: the setting changes now, or a wanted standby (or the
  // votes the wanted setting needs) is not in the key yet.
  const target = wanted.names.filter((n) => n !== '*');
  const lagging = changing || !sameNames(next, target) || (mode === 'quorum' && quorum !== requiredVotes(target, [wanted]));
  const lagSince = lagging ? (s.memory.syncLagSince ?? s.now) : null;
  const upkeep: SyncUpkeep = { actions, notes, memory: { syncSince: since, syncLagSince: lagSince } };
  if (lagSince !== null && s.now - lagSince < SYNC_WATCH_MS) upkeep.wakeAfterMs = SYNC_RECHECK_MS;
  return upkeep;
}

/**
 * The actions before a promotion while synchronous mode is on (Patroni's `enforce_primary_role`):
 * claim the `sync` key with no standby (CAS: a lost write means somebody else is acting), and
 * start with no synchronous standby — or, strict, with commits waiting for any one.
 */
export function syncBeforePromote(ctx: Ctx): Action[] {
  const { config } = ctx.s;
  if (config.synchronousMode === 'off') return [];
  const postpone = { code: 'sync.promote-postponed' as const, reason: 'Postponing promotion because synchronous replication state was updated by somebody else', actions: [] };
  return [
    { kind: 'write_sync', leader: ctx.me, standbys: [], quorum: 0, expectVersion: ctx.cluster.sync?.version ?? null, otherwise: postpone },
    {
      kind: 'set_synchronous_standby_names',
      setting: { kind: 'priority', count: 1, names: config.synchronousModeStrict ? ['*'] : [] },
      otherwise: { code: 'sync.promote-postponed-ssn', reason: 'Postponing promotion because synchronous_standby_names could not be set', actions: [] },
    },
  ];
}

/**
 * Votes a candidate needs from the other listed standbys: enough that any `votes + 1` of
 * `listed` include a standby that acknowledged every commit under each setting that may be in
 * effect. With `ANY k (X)` a commit is on at least k of X, so a set of listed members overlaps
 * every acknowledging set when it has more than |X| - k members of X; listed members outside X
 * acknowledge nothing and count against it.
 */
export function requiredVotes(listed: readonly string[], settings: ReadonlyArray<SynchronousStandbySetting | null>): number {
  if (listed.length === 0) return 0;
  let votes = 0;
  for (const setting of settings) {
    if (!setting || setting.names.length === 0 || setting.names.includes('*')) continue;
    const names = new Set(setting.names.map((n) => n.toLowerCase()));
    const outside = listed.filter((n) => !names.has(n.toLowerCase())).length;
    const k = Math.min(setting.count, names.size);
    votes = Math.max(votes, names.size - k + outside);
  }
  return votes;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const x = a.map((n) => n.toLowerCase()).sort();
  const y = b.map((n) => n.toLowerCase()).sort();
  return x.length === y.length && x.every((n, i) => n === y[i]);
}

/** The member's own spelling of an application_name. */
function memberName(cluster: Cluster, name: string): string {
  return cluster.members.find((m) => m.name.toLowerCase() === name.toLowerCase())?.name ?? name;
}

/**
 * The upkeep after a decision of a row with the `leader-sync` phase (`applies`): only a running
 * primary that keeps the lock this cycle.
 */
export function leaderSyncUpkeep(ctx: Ctx, applies: boolean, actions: readonly Action[]): SyncUpkeep {
  const none: SyncUpkeep = { actions: [], notes: [], memory: { syncLagSince: null } };
  const { local } = ctx.s;
  if (!applies || !local.running || local.role !== 'primary' || local.state !== 'running') return none;
  if (actions.some((a) => isLongAction(a) || a.kind === 'release_lock' || a.kind === 'probe_peers')) return none;
  return syncUpkeep(ctx);
}
