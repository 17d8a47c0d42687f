/**
 * Values printed the way patronictl's Python prints them, so scripts that parse patronictl's
 * output parse ours: `str()` of cells, `json.dumps` (", " and ": " separators, ASCII only) and
 * `yaml.safe_dump` (sorted keys, block style, sequences not indented under their key).
 */
import { stringify } from 'yaml';

/** Python's `str()` of a JSON-like value (None, True, 1.5, and dicts as Python reprs are not needed here). */
export function pythonStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(value);
  return pythonJson(value);
}

function jsonString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `json.dumps(value)` with Python's default separators and `ensure_ascii`. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return jsonString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${jsonString(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  }
  return jsonString(String(value));
}

/** `yaml.safe_dump(value, default_flow_style=False)`: what `show-config` and `-f yaml` print. */
export function pythonYaml(value: unknown): string {
  if (value === null || value === undefined) return 'null\n...\n';
  return stringify(value, { sortMapEntries: true, indentSeq: false, lineWidth: 200, singleQuote: true, aliasDuplicateObjects: false });
}

function flowScalar(value: unknown): string {
  return stringify(value, { singleQuote: true, lineWidth: 0 }).trimEnd();
}

/** `yaml.safe_dump(value, default_flow_style=True)` of a flat map, as patronictl prints tags in tsv and topology. */
export function pythonFlowYaml(value: Record<string, unknown>): string {
  const entries = Object.keys(value)
    .sort()
    .map((k) => {
      const v = value[k];
      const text = v !== null && typeof v === 'object' ? stringify(v, { collectionStyle: 'flow', singleQuote: true, lineWidth: 0 }).trimEnd() : flowScalar(v);
      return `${flowScalar(k)}: ${text}`;
    });
  return `{${entries.join(', ')}}`;
}

/** Python's `round()`: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
