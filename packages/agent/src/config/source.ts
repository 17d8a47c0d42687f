/**
 * Reading the local configuration: a YAML file, or a directory whose `*.yml` / `*.yaml` files are
 * deep-merged in name order (as Patroni does), or the whole document from the environment.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PghaError } from '@pgha/dcs';

type Tree = Record<string, unknown>;

/** A configuration file that cannot be read or parsed; names the file (and line when known). */
export class ConfigSourceError extends PghaError<'CONFIG_SOURCE'> {
  constructor(message: string) {
    super('CONFIG_SOURCE', message);
    this.name = 'ConfigSourceError';
  }
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merges `over` into `base` recursively: maps merge, everything else replaces. */
export function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Parses one YAML document that must be a map. `origin` names it in errors. */
export function parseConfigText(text: string, origin: string): Tree {
  let doc: unknown;
  try {
    // YAML 1.1, as PyYAML reads Patroni's files: `on`/`yes` are booleans and `0644` is octal
    // (`log.mode`), so a Patroni file means the same thing here.
    doc = parseYaml(text, { prettyErrors: true, version: '1.1' });
  } catch (e) {
    throw new ConfigSourceError(`${origin}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isTree(doc)) throw new ConfigSourceError(`${origin}: the top level must be a map of sections, not ${Array.isArray(doc) ? 'a list' : typeof doc}`);
  return doc;
}

/** Reads a config file or directory. */
export async function readConfigSource(path: string): Promise<Tree> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new ConfigSourceError(`${path}: cannot read the configuration (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!info.isDirectory()) return parseConfigText(await readFile(path, 'utf8'), path);
  const files = (await readdir(path)).filter((f) => /\.ya?ml$/.test(f)).sort();
  let merged: Tree = {};
  for (const f of files) merged = deepMerge(merged, parseConfigText(await readFile(join(path, f), 'utf8'), join(path, f)));
  return merged;
}
