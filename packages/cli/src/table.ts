/**
 * Draws a table the way patronictl does (Python's prettytable with patronictl's title hack):
 * one space of padding, `+---+` rules, a rule only around the header and the body unless a cell
 * spans several lines (then between every row), and an optional title written over the start
 * of the top rule: `+ Cluster: demo (7300...) ---+----+`.
 */

export type Alignment = 'l' | 'r';

export interface TableSpec {
  columns: readonly string[];
  /** Cells already turned into text; a cell may contain newlines. */
  rows: readonly (readonly string[])[];
  /** Column name → alignment; default left. The header follows its column's alignment. */
  align?: Readonly<Record<string, Alignment>>;
  /** Written over the top rule, e.g. ` Cluster: demo `. */
  title?: string;
}

function pad(text: string, width: number, align: Alignment): string {
  const fill = ' '.repeat(Math.max(0, width - text.length));
  return align === 'r' ? fill + text : text + fill;
}

export function drawTable(spec: TableSpec): string {
  const { columns, rows } = spec;
  const split = rows.map((row) => columns.map((_, i) => (row[i] ?? '').split('\n')));
  const widths = columns.map((c, i) => Math.max(c.length, ...split.map((cells) => Math.max(...cells[i]!.map((l) => l.length)))));
  const aligns = columns.map((c) => spec.align?.[c] ?? 'l');
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: readonly string[]): string =>
    `|${cells.map((cell, i) => ` ${pad(cell, widths[i]!, aligns[i]!)} `).join('|')}|`;
  const betweenRows = split.some((cells) => cells.some((c) => c.length > 1));

  let top = rule;
  if (spec.title) {
    const title = spec.title.slice(0, rule.length - 2);
    top = rule[0] + title + rule.slice(1 + title.length);
  }
  const out = [top, line(columns), rule];
  split.forEach((cells, r) => {
    const height = Math.max(...cells.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(line(cells.map((c) => c[k] ?? '')));
    if (betweenRows && r < split.length - 1) out.push(rule);
  });
  out.push(rule);
  return out.join('\n');
}
