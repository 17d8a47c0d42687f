/**
 * Boolean flags as Patroni reads them. YAML, environment variables and values other tools wrote
 * into the DCS spell a boolean many ways (`true`, `"on"`, `"YES"`, `1`); Patroni's `parse_bool`
 * accepts exactly these, case-insensitively, and pgha uses this one reading everywhere so the
 * agent, the REST API and the CLI never disagree about a flag such as `pause` or `nofailover`.
 */

const TRUE_WORDS: ReadonlySet<string> = new Set(['on', 'true', 'yes', '1']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['off', 'false', 'no', '0']);

/**
 * Patroni's `parse_bool`: `on`/`true`/`yes`/`1` are true, `off`/`false`/`no`/`0` false, compared
 * case-insensitively on the value's text (so the numbers 1 and 0 count too); null for anything
 * else, including absent values. Blanks are not trimmed, as in Patroni: an edge that reads text
 * with stray blanks (an environment variable) trims it first.
 */
export function parseBool(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const text = String(value).toLowerCase();
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  return null;
}

/** True only for a value `parseBool` reads as true; absent and unreadable values are false. */
export function isTrue(value: unknown): boolean {
  return parseBool(value) === true;
}
