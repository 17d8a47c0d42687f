/**
 * The JSON layer every key's codec shares: Patroni's compact output, and reading that reports
 * instead of throwing (see `index.ts` for the rules both directions follow).
 */
import { dcsValueOutOfBounds } from '../json-bounds.js';

/** A leniently parsed value: null when unreadable, with the reasons in `warnings`. */
export interface Parsed<T> {
  value: T | null;
  warnings: string[];
}

export type JsonObject = Record<string, unknown>;

/** Compact JSON with non-ASCII characters escaped, as Python's `json.dumps` writes it. */
export function toPatroniJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a JSON value is, for a warning: "null", "an array", "a string"... */
export function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** JSON.parse that reports instead of throwing; values too large or too deep are refused (json-bounds.ts). */
export function parseJson(value: string, key: string, warnings: string[]): { ok: true; json: unknown } | { ok: false } {
  const outOfBounds = dcsValueOutOfBounds(value);
  if (outOfBounds !== null) {
    warnings.push(`${key}: ${outOfBounds}`);
    return { ok: false };
  }
  try {
    return { ok: true, json: JSON.parse(value) as unknown };
  } catch {
    warnings.push(`${key}: not valid JSON: ${abbreviate(value)}`);
    return { ok: false };
  }
}

/** A value quoted for a warning, cut to 80 characters. */
export function abbreviate(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

/** WAL positions, timelines and counts: JSON numbers that are exact non-negative integers. */
export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** parseJson of a value that must be a JSON object; anything else is null plus a warning. */
export function parseObjectValue(value: string, key: string, warnings: string[]): JsonObject | null {
  const parsed = parseJson(value, key, warnings);
  if (!parsed.ok) return null;
  if (!isObject(parsed.json)) {
    warnings.push(`${key}: expected a JSON object, got ${describeJsonType(parsed.json)}`);
    return null;
  }
  return parsed.json;
}

/** Code-unit order, as Python's `sorted` of str. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
