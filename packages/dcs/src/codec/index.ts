/**
 * Patroni's JSON for every key of a cluster, both ways.
 *
 * Reading is lenient: a value that cannot be read becomes null (or, for a member, empty data)
 * plus a warning naming the key, and a single bad field of an otherwise good value is dropped
 * with a warning rather than spoiling the rest. Nothing here throws on input from the DCS.
 *
 * Writing produces what Patroni's `json.dumps(..., separators=(',', ':'))` produces: compact,
 * keys in Patroni's order, and non-ASCII characters escaped as `\uXXXX` (Python's default
 * `ensure_ascii`), so a value pgha writes is byte-for-byte the one Patroni would write.
 */
export { toPatroniJson, type Parsed } from './patroni-json.js';
export { parseMemberData, serializeMemberData } from './member.js';
export {
  parseConfig,
  parseFailover,
  parseFailsafe,
  parseHistory,
  parseLeader,
  parseLegacyOptime,
  parseStatus,
  parseSync,
  serializeConfig,
  serializeFailover,
  serializeFailsafe,
  serializeHistory,
  serializeStatus,
  serializeSync,
} from './cluster-keys.js';
export { decodeCluster } from './cluster.js';
