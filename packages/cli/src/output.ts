/**
 * What command handlers produce, and the one formatter that turns it into text. Handlers never
 * write to stdout themselves: they emit these values through `CommandContext.emit`, so the same
 * handler serves the pretty table, tsv, json and yaml, and tests can look at the data.
 */
import { drawTable, type Alignment } from './table.js';
import { pythonFlowYaml, pythonJson, pythonStr, pythonYaml } from './python-text.js';

export const OUTPUT_FORMATS = ['pretty', 'tsv', 'json', 'yaml', 'yml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number] | 'topology';

/** A table cell: scalars, or a map (member tags) that is printed as YAML. */
export type Cell = string | number | boolean | null | Record<string, unknown>;

export interface TableOutput {
  kind: 'table';
  /** null for a header-less table (query errors). */
  columns: string[] | null;
  rows: Cell[][];
  align?: Record<string, Alignment>;
  format: OutputFormat;
  /** The cluster title (` Cluster: demo (sysid) `). A titled table drops its `Cluster` column when pretty. */
  title?: string;
  delimiter?: string;
  /** Lines printed under a pretty table: `Maintenance mode: on`, the scheduled switchover. */
  footer?: string[];
}

export interface TextOutput {
  kind: 'text';
  text: string;
}

/** A YAML document (show-config). */
export interface YamlOutput {
  kind: 'yaml';
  data: unknown;
}

/** Unified diff lines, coloured on a terminal. */
export interface DiffOutput {
  kind: 'diff';
  lines: string[];
}

export type Output = TableOutput | TextOutput | YamlOutput | DiffOutput;

export interface RenderOptions {
  /** stdout is a terminal: colours allowed. */
  color: boolean;
}

function cellText(cell: Cell, format: OutputFormat): string {
  if (cell !== null && typeof cell === 'object') {
    if (Object.keys(cell).length === 0) return '';
    return format === 'pretty' ? pythonYaml(cell).trimEnd() : pythonFlowYaml(cell);
  }
  if (cell === null) return '';
  return pythonStr(cell);
}

function renderTable(out: TableOutput): string {
  const { format } = out;
  let columns = out.columns;
  if (format === 'json' || format === 'yaml' || format === 'yml') {
    const cols = columns ?? [];
    // patronictl drops empty cells from the cluster listing (titled tables) but keeps them elsewhere.
    const elements = out.rows.map((row) => {
      const element: Record<string, unknown> = {};
      cols.forEach((c, i) => {
        const v = row[i] ?? '';
        if (out.title && (v === '' || v === null)) return;
        element[c] = v;
      });
      return element;
    });
    return format === 'json' ? pythonJson(elements) : pythonYaml(elements);
  }
  const listCluster = out.title !== undefined && columns !== null && columns[0] === 'Cluster';
  let rows = out.rows.map((row) => row.map((cell) => cellText(cell, format)));
  if (listCluster && format !== 'tsv') {
    columns = columns!.slice(1);
    rows = rows.map((r) => r.slice(1));
  }
  if (format === 'tsv') {
    const delimiter = out.delimiter ?? '\t';
    return [...(columns ? [columns] : []), ...rows].map((r) => r.join(delimiter)).join('\n');
  }
  const spec = { columns: columns ?? rows[0]?.map((_, i) => `Field ${i + 1}`) ?? [], rows, ...(out.align ? { align: out.align } : {}) };
  const table = drawTable(out.title === undefined ? spec : { ...spec, title: out.title });
  return out.footer && out.footer.length > 0 ? `${table}\n ${out.footer.join('\n ')}` : table;
}

const GREEN = '\u001b[32m';
const RED = '\u001b[31m';
const CYAN = '\u001b[36m';
const RESET = '\u001b[0m';

function renderDiff(lines: string[], color: boolean): string {
  if (!color) return lines.join('\n');
  return lines
    .map((l) => {
      if (l.startsWith('+++') || l.startsWith('---')) return l;
      if (l.startsWith('+')) return GREEN + l + RESET;
      if (l.startsWith('-')) return RED + l + RESET;
      if (l.startsWith('@@')) return CYAN + l + RESET;
      return l;
    })
    .join('\n');
}

/** The text of one output, with a final newline (what click.echo writes). */
export function render(out: Output, options: RenderOptions): string {
  switch (out.kind) {
    case 'text':
      return `${out.text}\n`;
    case 'yaml':
      // click.echo adds a newline after safe_dump's own, hence the blank last line.
      return `${pythonYaml(out.data)}\n`;
    case 'diff':
      return `${renderDiff(out.lines, options.color)}\n`;
    case 'table':
      return `${renderTable(out)}\n`;
  }
}
