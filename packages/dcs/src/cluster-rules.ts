/**
 * Patroni's cluster rules that more than one package reads: which member may be promoted or made
 * synchronous (its tags), whether the cluster is paused, and the replication slot a member
 * streams through. The agent, the REST API and the CLI must answer these alike, so each rule
 * exists here once; every flag is read with Patroni's `parse_bool` (`parseBool`, re-exported by
 * this package from `@pgha/primitives`).
 *
 * Tags are the member's `tags` object as it arrives from YAML or from the DCS: untyped, so every
 * rule accepts any value and reads an unexpected one as "not set".
 */
import { isTrue, parseBool } from '@pgha/primitives';
import type { Cluster, ClusterConfig } from './model.js';

/** A member's `tags` (config `tags:` section, or `tags` of its member key). */
export type MemberTags = Record<string, unknown>;

/**
 * A priority tag as Patroni's `parse_int` reads it: a finite number, or a string of an integer
 * (`"2"`); null when absent or unreadable.
 */
function priorityOf(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) return Number(value);
  return null;
}

/**
 * Patroni's `Tags._bool_tag`: the boolean tag when it is set at all (it wins over the priority,
 * even when false), else a priority of 0 or less.
 */
function boolTag(tags: MemberTags, boolName: string, priorityName: string): boolean {
  const flag = tags[boolName];
  if (flag !== undefined && flag !== null) return isTrue(flag);
  const priority = priorityOf(tags[priorityName]);
  return priority !== null && priority <= 0;
}

/** Patroni's `Tags._priority_tag`: 0 when the boolean tag is true, else the priority (default 1). */
function priorityTag(tags: MemberTags, boolName: string, priorityName: string): number {
  if (isTrue(tags[boolName])) return 0;
  return priorityOf(tags[priorityName]) ?? 1;
}

/**
 * True when the member may not become primary (Patroni's `nofailover`): `nofailover` when it is
 * set, else `failover_priority` ≤ 0 (Patroni 3.2+). `nofailover: false` with
 * `failover_priority: 0` is a candidate: Patroni logs the conflict and lets nofailover win.
 */
export function isNoFailover(tags: MemberTags): boolean {
  return boolTag(tags, 'nofailover', 'failover_priority');
}

/** `failover_priority` (default 1; 0 when `nofailover` is true): ties on WAL position go to the higher. */
export function failoverPriority(tags: MemberTags): number {
  return priorityTag(tags, 'nofailover', 'failover_priority');
}

/** True when the member may not be a synchronous standby: `nosync` when set, else `sync_priority` ≤ 0 (Patroni 4.1). */
export function isNoSync(tags: MemberTags): boolean {
  return boolTag(tags, 'nosync', 'sync_priority');
}

/** `sync_priority` (default 1; 0 when `nosync` is true): higher is picked first. */
export function syncPriority(tags: MemberTags): number {
  return priorityTag(tags, 'nosync', 'sync_priority');
}

/** `nostream`: the member recovers from the archive only and streams from nobody (Patroni 3.3+). */
export function isNoStream(tags: MemberTags): boolean {
  return isTrue(tags['nostream']);
}

/** `noloadbalance`: `GET /replica` answers 503 so load balancers leave the member out. */
export function isNoLoadBalance(tags: MemberTags): boolean {
  return isTrue(tags['noloadbalance']);
}

/** `clonefrom`: new replicas prefer to take their base backup from this member. */
export function isCloneFrom(tags: MemberTags): boolean {
  return isTrue(tags['clonefrom']);
}

/**
 * Patroni's `GlobalConfig.check_mode`: a flag of the dynamic configuration (`pause`,
 * `failsafe_mode`, `check_timeline`, ...) is on when `parse_bool` reads it as true.
 */
export function configFlag(config: ClusterConfig | null | undefined, key: string): boolean {
  return isTrue(config?.[key]);
}

/** True when cluster management is paused (`pause` in the dynamic configuration). */
export function isPaused(cluster: Pick<Cluster, 'config'> | null | undefined): boolean {
  return configFlag(cluster?.config?.value, 'pause');
}

/** `synchronous_mode` of the dynamic configuration. */
export type SynchronousMode = 'off' | 'on' | 'quorum';

/**
 * `synchronous_mode` as Patroni reads it: `quorum`, or a `parse_bool` flag (`on`/`off`);
 * `off` when absent, null when it is neither (the caller says so and falls back).
 */
export function synchronousModeOf(value: unknown): SynchronousMode | null {
  if (value === undefined || value === null) return 'off';
  if (value === 'quorum') return 'quorum';
  const on = parseBool(value);
  return on === null ? null : on ? 'on' : 'off';
}

/**
 * The replication slot name of a member, as Patroni's `slot_name_from_member_name` derives it:
 * lower-case, `-` and `.` become `_`, any other character outside `[a-z0-9_]` becomes `u` + its
 * code point as 4 decimal digits, cut to PostgreSQL's 63-byte limit. Different names may map to
 * one slot name (`pg-1`, `pg.1` and `PG_1` all give `pg_1`). A character outside the BMP is one
 * code point, as in Python (`u128512`), not two UTF-16 halves.
 */
export function slotNameFromMemberName(member: string): string {
  return member
    .toLowerCase()
    .replace(/[-.]/g, '_')
    .replace(/[^a-z0-9_]/gu, (c) => `u${String(c.codePointAt(0)!).padStart(4, '0')}`)
    .slice(0, 63);
}

/**
 * Patroni's `is_standby_cluster`: the dynamic configuration has a `standby_cluster` section with
 * a `host`, `port` or `restore_command` (an empty section is not a standby cluster).
 */
export function isStandbyClusterConfig(config: ClusterConfig | null | undefined): boolean {
  const standby = config?.['standby_cluster'];
  if (typeof standby !== 'object' || standby === null) return false;
  const s = standby as Record<string, unknown>;
  // Python truthiness, as Patroni's `any(config.get(p) ...)`.
  return ['host', 'port', 'restore_command'].some((k) => Boolean(s[k]));
}

/**
 * What a non-leader member is in the synchronous replication state, as Patroni 4.1 names it in
 * GET /cluster, GET /patroni and `patronictl list`: `quorum_standby` when `synchronous_mode` is
 * `quorum` and the member is in the `/sync` key's set, `sync_standby` when it is `on`, null when
 * it is not synchronous. As Patroni, a standby cluster has no synchronous mode, and the name is
 * compared case-insensitively (PostgreSQL compares `synchronous_standby_names` so).
 */
export function synchronousRoleOf(cluster: Pick<Cluster, 'config' | 'sync'>, member: string): 'sync_standby' | 'quorum_standby' | null {
  const config = cluster.config?.value;
  const mode = synchronousModeOf(config?.['synchronous_mode']);
  if (mode === null || mode === 'off' || isStandbyClusterConfig(config)) return null;
  const lower = member.toLowerCase();
  const inSync = (cluster.sync?.value.sync_standby ?? []).some((n) => n.toLowerCase() === lower);
  if (!inSync) return null;
  return mode === 'quorum' ? 'quorum_standby' : 'sync_standby';
}
