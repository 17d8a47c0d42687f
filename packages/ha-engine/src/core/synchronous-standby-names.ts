/**
 * `synchronous_standby_names` as the engine reasons about it: the value PostgreSQL reports is
 * parsed back into a SynchronousStandbySetting so the leader can tell whether the setting it wants
 * is already in effect, and which standbys it makes synchronous. Pure; the controller renders.
 *
 * Grammar (PostgreSQL's): `name[, ...]` | `[FIRST] N (name[, ...])` | `ANY N (name[, ...])`;
 * names are identifiers (folded to lower case) or double-quoted (`""` escapes a quote); `*`
 * matches any standby.
 */
import type { SynchronousStandbySetting } from './actions.js';

/** The parsed value; null for '' (no synchronous standby) or a value that does not parse. */
export function parseSynchronousStandbyNames(text: string | null | undefined): SynchronousStandbySetting | null {
  const tokens = tokenize(text ?? '');
  if (!tokens || tokens.length === 0) return null;
  let i = 0;
  let kind: SynchronousStandbySetting['kind'] = 'priority';
  let count: number | null = null;
  const first = tokens[0];
  if (first?.type === 'word' && /^(any|first)$/i.test(first.text) && tokens[1]?.type === 'word' && /^\d+$/.test(tokens[1].text)) {
    kind = first.text.toLowerCase() === 'any' ? 'any' : 'priority';
    count = Number(tokens[1].text);
    i = 2;
  } else if (first?.type === 'word' && /^\d+$/.test(first.text) && tokens[1]?.type === '(') {
    count = Number(first.text);
    i = 1;
  }
  const grouped = count !== null;
  if (grouped) {
    if (tokens[i]?.type !== '(' || tokens[tokens.length - 1]?.type !== ')') return null;
    i += 1;
  }
  const end = grouped ? tokens.length - 1 : tokens.length;
  const names: string[] = [];
  let expectName = true;
  for (; i < end; i++) {
    const t = tokens[i];
    if (!t) return null;
    if (expectName && (t.type === 'word' || t.type === 'quoted')) names.push(t.type === 'word' ? t.text.toLowerCase() : t.text);
    else if (!expectName && t.type === ',') {
      // next token must be a name
    } else return null;
    expectName = !expectName;
  }
  if (names.length === 0 || expectName) return null;
  // A bare list means the first connected one: priority 1.
  return { kind, count: count ?? 1, names };
}

/**
 * True when two settings make the same standbys synchronous: same kind and count, same names in
 * any order (pgha always lists exactly the standbys it counts, so the order carries nothing).
 * Names compare case-insensitively, as PostgreSQL matches them against `application_name`.
 */
export function sameSynchronousSetting(a: SynchronousStandbySetting | null, b: SynchronousStandbySetting | null): boolean {
  const an = a ? normalized(a.names) : [];
  const bn = b ? normalized(b.names) : [];
  if (an.length === 0 || bn.length === 0) return an.length === bn.length;
  return a?.kind === b?.kind && a?.count === b?.count && an.join('\n') === bn.join('\n');
}

function normalized(names: readonly string[]): string[] {
  return names.map((n) => n.toLowerCase()).sort();
}

type Token = { type: 'word' | 'quoted'; text: string } | { type: '(' | ')' | ','; text: string };

function tokenize(text: string): Token[] | null {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ type: c, text: c });
      i += 1;
    } else if (c === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) return null;
        const d = text.charAt(i);
        if (d === '"' && text.charAt(i + 1) === '"') {
          value += '"';
          i += 2;
        } else if (d === '"') {
          i += 1;
          break;
        } else {
          value += d;
          i += 1;
        }
      }
      tokens.push({ type: 'quoted', text: value });
    } else {
      const m = /^[^\s(),"]+/.exec(text.slice(i));
      if (!m) return null;
      tokens.push({ type: 'word', text: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}
