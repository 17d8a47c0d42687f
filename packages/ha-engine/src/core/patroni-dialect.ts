/**
 * Which Patroni names this member uses (Patroni 4.0 renamed the primary's role `master` to
 * `primary` in the member key, `GET /patroni`, the callbacks' role argument and the metrics): the
 * configured `patroni_compatibility`, else what the other members show.
 *
 * Patroni 4 members are recognised by their member key: a `version` of 4 or more, or a primary's
 * role spelled `primary` (Patroni ≤ 3.x, and pgha speaking 3, spell it `master`). Our own key is
 * left out, so the choice follows the cluster and is never kept alive by our own last write: once
 * the last Patroni 4 member is gone the cluster goes back to 3's names.
 */
import type { Cluster, Member, PatroniDialect } from '@pgha/dcs';
import type { DcsUnavailable } from './snapshot.js';

/** The dialect spoken when nothing says otherwise: Patroni 3's names, which Patroni 4 reads too. */
export const DEFAULT_PATRONI_DIALECT: PatroniDialect = 3;

/** The major version of a member's `version` (`4.1.0` → 4); null when it does not start with a number. */
function majorVersion(version: string | undefined): number | null {
  const m = version === undefined ? null : /^\s*(\d+)/.exec(version);
  return m ? Number(m[1]) : null;
}

/** The member key shows Patroni 4 (or an agent speaking its names). */
export function speaksPatroni4(member: Member): boolean {
  const major = majorVersion(member.data.version);
  return (major !== null && major >= 4) || member.data.roleSpelling === 'primary';
}

/**
 * The dialect for this cycle: `configured` when set; otherwise 4 when another member's key shows
 * Patroni 4, else 3. Null when the cluster could not be read and nothing is configured: the
 * caller keeps the dialect it had.
 */
export function patroniDialectOf(cluster: Cluster | DcsUnavailable, options: { configured: PatroniDialect | null; me: string }): PatroniDialect | null {
  if (options.configured !== null) return options.configured;
  if ('error' in cluster) return null;
  return cluster.members.some((m) => m.name !== options.me && speaksPatroni4(m)) ? 4 : DEFAULT_PATRONI_DIALECT;
}
