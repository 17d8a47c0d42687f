/**
 * The replication slot policy: which slots should exist on this member, which go, which move.
 * Pure; `decide` calls it after the HA rule of the cycle, and the loop hands the plan to the
 * PostgreSQL port, which only carries it out.
 *
 * What is kept where (Patroni's rules, PostgreSQL 15):
 * - A member slot (physical, named after the member) on the server the member streams from: the
 *   primary for ordinary replicas, the `replicatefrom` member for cascading ones (the primary when
 *   that member has no key). A `nostream` member streams from nobody and gets no slot.
 * - A member whose key disappeared keeps its slot `member_slots_ttl` longer (a restart or a short
 *   outage must not force a re-clone), then the slot is dropped so WAL does not pile up. The
 *   primary publishes the slots it keeps in the `status` key's `retain_slots`, so an agent
 *   restarted on it does not drop them at once.
 * - Permanent slots (`slots:` in the dynamic config) live on the primary, and on every replica
 *   that may become primary (not `nofailover`), so consumers find them after a failover (Patroni
 *   3.2+). A physical one is created on the replica (reserving WAL) and moved forward with
 *   `pg_replication_slot_advance` to the position the primary publishes in `status.slots` (or
 *   that of the cascading member named after the slot, whichever is further); never the slot
 *   named after this member. A logical one needs a streaming replica (not `nostream`), moves to
 *   the primary's `confirmed_flush_lsn` the same way; PostgreSQL 15 cannot create a logical slot
 *   on a standby: the replica copies the slot's state file from the primary and restarts to load
 *   it (one restart per slot appearing).
 * - Slots matching `ignore_slots` are never created, dropped or advanced; every other slot is
 *   dropped, as Patroni does.
 */
import { isNoFailover, isNoStream, slotNameFromMemberName, type Cluster } from '@pgha/dcs';
import type { Action, SlotPlan, SlotSpec, SlotSyncReport } from './actions.js';
import type { IgnoreSlotRule } from './config.js';
import type { EngineMemory, LocalSlot, Snapshot } from './snapshot.js';

/** The label of the restart that loads copied logical slots; also how its outcome is recognised. */
export const COPY_SLOTS_LABEL = 'restart to load copied logical slots';

/**
 * The member another member streams from (its `replicatefrom` when that member has a key, else the
 * leader); null for a `nostream` member.
 */
export function streamSourceOf(cluster: Cluster, member: string): string | null {
  const m = cluster.members.find((x) => x.name === member);
  const tags = m?.data.tags ?? {};
  if (isNoStream(tags)) return null;
  const from = tags['replicatefrom'];
  if (typeof from === 'string' && from !== member && cluster.members.some((x) => x.name === from)) return from;
  return cluster.leader?.name ?? null;
}

/** Members that stream from `me` (each needs a slot here). */
export function membersStreamingFrom(cluster: Cluster, me: string): string[] {
  return cluster.members
    .map((m) => m.name)
    .filter((name) => name !== me && streamSourceOf(cluster, name) === me)
    .sort();
}

/** A slot matches an `ignore_slots` entry when every attribute the entry names is equal. */
export function isIgnored(slot: { name: string; type: string; database?: string | null; plugin?: string | null }, rules: readonly IgnoreSlotRule[]): boolean {
  return rules.some(
    (r) =>
      (r.name === undefined || r.name === slot.name) &&
      (r.type === undefined || r.type === slot.type) &&
      (r.database === undefined || r.database === (slot.database ?? undefined)) &&
      (r.plugin === undefined || r.plugin === (slot.plugin ?? undefined)),
  );
}

/** What the slot policy adds to a decision. */
export interface SlotUpkeep {
  actions: Action[];
  /** The leader's `status.slots` and `status.retain_slots`, when it publishes them this cycle. */
  status: { slots: Record<string, number>; retain_slots: string[] } | null;
  memory: Pick<EngineMemory, 'memberSlotsSeen'>;
}

export type SlotRole = 'primary' | 'replica';

/**
 * The slot plan for this member in `role` (the caller checks that PostgreSQL runs in that role
 * and that nothing else is being done to it this cycle).
 */
export function planSlots(s: Snapshot, cluster: Cluster, role: SlotRole): SlotUpkeep {
  const cfg = s.config;
  const me = s.me.name;
  const existing = s.local.slots;
  const known = existing !== undefined;
  const local = new Map((existing ?? []).map((x) => [x.name, x]));

  // Member slots, with their retention.
  const streaming = membersStreamingFrom(cluster, me).map(slotNameFromMemberName);
  const seen: Record<string, number> = {};
  const ttlMs = cfg.memberSlotsTtl * 1000;
  for (const [name, at] of Object.entries(s.memory.memberSlotsSeen ?? {})) if (s.now - at < ttlMs) seen[name] = at;
  // An agent (re)started on the primary learns, once, what the last leader retained; its own
  // memory rules afterwards (the key echoes our retain_slots and would keep them forever).
  if (role === 'primary' && ttlMs > 0 && s.memory.memberSlotsSeen === undefined) {
    for (const name of cluster.status?.value.retain_slots ?? []) seen[name] ??= s.now;
  }
  for (const name of streaming) seen[name] = s.now;
  const memberSlots = Object.keys(seen).sort();

  const wanted = new Map<string, SlotSpec>();
  for (const name of memberSlots) wanted.set(name, { name, type: 'physical' });
  const mayStream = !isNoStream(s.me.tags);
  const mayPromote = !isNoFailover(s.me.tags);
  const ownSlot = slotNameFromMemberName(me);
  for (const p of cfg.permanentSlots) {
    if (role === 'primary') wanted.set(p.name, p);
    // A member slot of a member cascading from us wins over a permanent slot of that name (Patroni).
    else if (mayPromote && p.type === 'physical' && p.name !== ownSlot && !wanted.has(p.name)) wanted.set(p.name, p);
    else if (mayPromote && p.type === 'logical' && mayStream) wanted.set(p.name, p);
  }
  const memberSlotNames = new Set(memberSlots);

  const create: SlotSpec[] = [];
  const drop: string[] = [];
  const advance: SlotPlan['advance'] = [];
  const copy: string[] = [];
  const published = cluster.status?.value.slots ?? {};

  for (const spec of wanted.values()) {
    const have = local.get(spec.name);
    if (have && !matches(have, spec)) {
      if (!isIgnored(have, cfg.ignoreSlots)) drop.push(spec.name);
      continue;
    }
    if (role === 'replica' && spec.type === 'logical') {
      const target = published[spec.name];
      if (!have) {
        // Only a slot the primary has (and publishes) can be copied from it.
        if (known && typeof target === 'number') copy.push(spec.name);
      } else if (typeof target === 'number' && spec.database && (have.confirmedFlushLsn === null || have.confirmedFlushLsn < target)) {
        advance.push({ name: spec.name, database: spec.database, lsn: target });
      }
      continue;
    }
    if (role === 'replica' && spec.type === 'physical' && have && !memberSlotNames.has(spec.name)) {
      const target = physicalSlotTarget(cluster, spec.name);
      // Patroni: a slot without a restart position was not made by us and cannot advance; recreate it.
      if (have.restartLsn === null) drop.push(spec.name);
      else if (target !== null && target > have.restartLsn) advance.push({ name: spec.name, database: null, lsn: target });
      continue;
    }
    // Unknown local slots (a port that does not list them): ask for all; creating is idempotent.
    if (!have && !isIgnored(spec, cfg.ignoreSlots)) create.push(spec);
  }
  for (const have of local.values()) {
    if (!wanted.has(have.name) && !isIgnored(have, cfg.ignoreSlots)) drop.push(have.name);
  }

  const actions: Action[] = [];
  const plan: SlotPlan = { create, drop: drop.sort(), advance };
  if (create.length > 0 || drop.length > 0 || advance.length > 0) actions.push({ kind: 'sync_slots', plan });
  const copyAction = role === 'replica' && copy.length > 0 ? copySlots(s, cluster, copy) : null;
  if (copyAction) actions.push(copyAction);

  let status: SlotUpkeep['status'] = null;
  if (role === 'primary') {
    const slots: Record<string, number> = {};
    for (const spec of wanted.values()) {
      const have = local.get(spec.name);
      const lsn = have ? (have.type === 'logical' ? have.confirmedFlushLsn : have.restartLsn) : null;
      if (lsn !== null && lsn !== undefined) slots[spec.name] = lsn;
    }
    status = { slots, retain_slots: memberSlots };
  }
  return { actions, status, memory: { memberSlotsSeen: ttlMs > 0 ? seen : {} } };
}

/**
 * Where a permanent physical slot should be on a replica (Patroni's `__permanent_slots` lsn): the
 * further of the primary's published position and the position of a `replicatefrom` member whose
 * slot name it is (the primary keeps that member's slot for it); null when neither is known.
 */
function physicalSlotTarget(cluster: Cluster, name: string): number | null {
  const published = cluster.status?.value.slots?.[name];
  const cascading = cluster.members.find((m) => typeof m.data.tags['replicatefrom'] === 'string' && slotNameFromMemberName(m.name) === name);
  const positions = [published, cascading?.data.xlog_location].filter((v): v is number => typeof v === 'number' && v > 0);
  return positions.length > 0 ? Math.max(...positions) : null;
}

function matches(have: LocalSlot, spec: SlotSpec): boolean {
  if (have.type !== spec.type) return false;
  if (spec.type === 'physical') return true;
  return have.database === (spec.database ?? null) && have.plugin === (spec.plugin ?? null);
}

/**
 * Copy the primary's logical slots and restart to load them, unless the last such restart ended
 * less than ttl ago (a slot that does not load must not restart the replica every cycle).
 */
function copySlots(s: Snapshot, cluster: Cluster, names: string[]): Action | null {
  const leader = cluster.leader?.name;
  if (!leader || leader === s.me.name) return null;
  const last = s.lastAction;
  if (last && last.kind === 'restart' && last.label === COPY_SLOTS_LABEL && s.now - last.finishedAt < s.config.ttl * 1000) return null;
  const member = cluster.members.find((m) => m.name === leader);
  if (!member?.data.conn_url) return null;
  return { kind: 'restart', label: COPY_SLOTS_LABEL, copyLogicalSlots: { source: { name: leader, connUrl: member.data.conn_url }, slots: names } };
}

/**
 * What follows a slot plan carried out: a logical slot copy that could not advance because the
 * WAL from its restart position is gone here (it was copied before this replica had that WAL,
 * e.g. right after its clone) can never move, so it is dropped, and a later cycle copies it
 * afresh from the primary, whose slot has moved on meanwhile. Null when nothing follows.
 */
export function slotRepairPlan(report: SlotSyncReport): SlotPlan | null {
  if (report.walRemoved.length === 0) return null;
  return { create: [], drop: [...new Set(report.walRemoved)].sort(), advance: [] };
}
