/**
 * A unified diff of two texts, line by line, shaped like Python's `difflib.unified_diff` with
 * empty file names (`--- ` / `+++ ` headers, three lines of context), which is what
 * `patronictl edit-config` shows before asking `Apply these changes?`.
 */

type Op = { kind: 'equal' | 'delete' | 'insert'; a: number; b: number };

/** Longest-common-subsequence edit script; configs are small, so O(n·m) is fine. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: 'equal', a: i++, b: j++ });
    else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) ops.push({ kind: 'insert', a: i, b: j++ });
    else ops.push({ kind: 'delete', a: i++, b: j });
  }
  // difflib lists deletions before insertions inside a changed block.
  for (let k = 0; k < ops.length; k++) {
    let end = k;
    while (end < ops.length && ops[end]!.kind !== 'equal') end++;
    if (end > k + 1) {
      const block = ops.slice(k, end);
      const sorted = [...block.filter((o) => o.kind === 'delete'), ...block.filter((o) => o.kind === 'insert')];
      ops.splice(k, block.length, ...sorted);
    }
    k = end;
  }
  return ops;
}

function range(start: number, length: number): string {
  let beginning = start + 1;
  if (length === 1) return String(beginning);
  if (length === 0) beginning -= 1;
  return `${beginning},${length}`;
}

function lines(text: string): string[] {
  return text.replace(/\n+$/, '').split('\n');
}

/** The diff lines (no trailing newlines); empty when the texts are equal. */
export function unifiedDiff(before: string, after: string, context = 3): string[] {
  const a = lines(before);
  const b = lines(after);
  const ops = editScript(a, b);
  if (ops.every((o) => o.kind === 'equal')) return [];
  const out = ['--- ', '+++ '];
  let k = 0;
  while (k < ops.length) {
    while (k < ops.length && ops[k]!.kind === 'equal') k++;
    if (k >= ops.length) break;
    const start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while the next change is within 2×context equal lines.
    for (;;) {
      while (end < ops.length && ops[end]!.kind !== 'equal') end++;
      let eq = end;
      while (eq < ops.length && ops[eq]!.kind === 'equal') eq++;
      if (eq < ops.length && eq - end <= 2 * context) end = eq;
      else {
        end = Math.min(ops.length, end + context);
        break;
      }
    }
    const hunk = ops.slice(start, end);
    const aStart = hunk[0]!.a;
    const bStart = hunk[0]!.b;
    const aLen = hunk.filter((o) => o.kind !== 'insert').length;
    const bLen = hunk.filter((o) => o.kind !== 'delete').length;
    out.push(`@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@`);
    for (const o of hunk) {
      if (o.kind === 'equal') out.push(` ${a[o.a]}`);
      else if (o.kind === 'delete') out.push(`-${a[o.a]}`);
      else out.push(`+${b[o.b]}`);
    }
    k = end;
  }
  return out;
}
