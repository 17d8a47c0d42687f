/**
 * Names PostgreSQL uses for members: `synchronous_standby_names` values and physical replication
 * slot names.
 */

/** The three forms of synchronous_standby_names pgha writes. */
export type SynchronousStandbySpec =
  /** `a,b`: the first connected one in the list is synchronous. */
  | { kind: 'list'; names: readonly string[] }
  /** `N (a,b,c)`: the first N connected ones in list order are synchronous (priority commit). */
  | { kind: 'priority'; count: number; names: readonly string[] }
  /** `ANY k (a,b,c)`: any k of them must confirm (quorum commit). */
  | { kind: 'any'; count: number; names: readonly string[] };

const plainName = /^[a-z_][a-z0-9_$]*$/;
const keywords = new Set(['any', 'first']);

/**
 * Quotes a standby name as the synchronous_standby_names grammar requires: anything that is not
 * a lower-case identifier (or is a keyword) goes in double quotes; `*` stays bare.
 */
export function quoteStandbyName(name: string, always = false): string {
  if (name === '*') return name;
  if (!always && plainName.test(name) && !keywords.has(name)) return name;
  return `"${name.replace(/"/g, '""')}"`;
}

/** Renders the value; '' (no synchronous standby) when there are no names. */
export function formatSynchronousStandbyNames(spec: SynchronousStandbySpec, options: { alwaysQuote?: boolean } = {}): string {
  if (spec.names.length === 0) return '';
  const list = spec.names.map((n) => quoteStandbyName(n, options.alwaysQuote)).join(',');
  switch (spec.kind) {
    case 'list':
      return list;
    case 'priority':
      return `${spec.count} (${list})`;
    case 'any':
      return `ANY ${spec.count} (${list})`;
  }
}
