/** pgha's own version. */
export const PGHA_VERSION = '0.1.0';

/**
 * The Patroni release whose wire formats pgha speaks. It is what pgha writes as `version` in its
 * member key and shows as `patroni.version` in GET /patroni, because Patroni's own tools and peers
 * compare that field with Patroni versions (below 2.1.0 they fall back to legacy keys).
 */
export const PATRONI_COMPATIBLE_VERSION = '3.0.2';
