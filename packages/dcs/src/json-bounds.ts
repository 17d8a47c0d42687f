/**
 * Bounds on JSON that arrives from the DCS or the network. `JSON.parse` copes with any nesting,
 * but `JSON.stringify`, structured logging and the YAML fallback recurse: a value nested some
 * thousands of levels deep makes them throw `RangeError: Maximum call stack size exceeded`, and a
 * synchronous GET handler that serialises it would take the agent down. Patroni's own values are
 * a few levels deep (`postgresql.parameters.x`, `slots.name.type`), so a low bound costs nothing.
 */

/** The deepest nesting of arrays and objects accepted in a DCS value or a request body. */
export const MAX_JSON_DEPTH = 32;
/** The largest DCS value read, in characters: etcd's default request limit (1.5 MiB). */
export const MAX_DCS_VALUE_CHARS = 1536 * 1024;

/**
 * The deepest nesting of `[` and `{` in `text`, outside strings, without parsing it (one pass,
 * no recursion, so it is safe on any input). Stops counting once past `limit`.
 */
export function jsonNestingDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

/** Why `text` is out of bounds for a DCS value, or null when it is within them. */
export function dcsValueOutOfBounds(text: string): string | null {
  if (text.length > MAX_DCS_VALUE_CHARS) return `value of ${text.length} characters is larger than ${MAX_DCS_VALUE_CHARS}, ignored`;
  if (jsonNestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return `value nested deeper than ${MAX_JSON_DEPTH} levels, ignored`;
  return null;
}
