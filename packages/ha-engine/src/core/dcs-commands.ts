/**
 * Commands in the dynamic configuration: the one statement of the rule.
 *
 * PostgreSQL runs a few settings as shell commands, as the `postgres` user: `archive_command`,
 * `restore_command`, ... Anyone who can write the DCS `config` key (PATCH /config on an API
 * without authentication, etcdctl, zkCli) could otherwise run code on every member. So a command
 * applies from the dynamic configuration only when the member's local YAML says
 * `postgresql.allow_dcs_commands: true`. Otherwise:
 *
 * - applying: the DCS value is dropped and the local YAML's value, if any, stays in force; each
 *   dropped key is logged with its path (once per change). The agent drops them from the
 *   `postgresql` section before the controller sees it (withoutDcsCommands), the engine from
 *   `standby_cluster` before it builds the standby leader's recovery settings.
 * - writing: PATCH / PUT /config, `pghactl edit-config` and `bootstrap.dcs` in the YAML refuse a
 *   value that introduces or changes a command (dynamicConfigWriteProblem). A command already
 *   stored and left unchanged passes, so `pause` or a `ttl` change still work on a cluster whose
 *   key holds one (a Patroni cluster taken over as it was).
 *
 * Scripts pgha runs itself (callbacks, `pre_promote`, `before_stop`, the `command` of a replica
 * method) are read from the local YAML only, whatever the switch: in the dynamic configuration
 * they are ignored with a warning, and writing one is refused. Patroni honours all of these from
 * the DCS; pgha is stricter.
 *
 * The switch is pgha's own key; Patroni has none for this. Errors carry a stable `code`.
 */
import { isTrue } from '@pgha/dcs';
import { dynamicConfigProblem } from './config-bounds.js';

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The local YAML key that lets commands apply from the dynamic configuration (default false). */
export const ALLOW_DCS_COMMANDS = 'postgresql.allow_dcs_commands';

/**
 * The PostgreSQL settings run as shell commands: every GUC of PostgreSQL 15 whose description
 * (`postgres --describe-config`) says it sets a shell command, plus `ssl_passphrase_command`
 * ("Command to obtain passphrases for SSL"). They are commands wherever the dynamic configuration
 * holds them: `postgresql.parameters`, `postgresql.recovery_conf`, `standby_cluster`.
 */
export const SHELL_COMMAND_SETTINGS: readonly string[] = ['archive_command', 'archive_cleanup_command', 'recovery_end_command', 'restore_command', 'ssl_passphrase_command'];

/** `postgresql` keys naming scripts pgha runs itself. */
const SCRIPT_KEYS = ['callbacks', 'pre_promote', 'before_stop'];

/** `postgresql` keys that are not replica methods even when they hold a `command` (none do today). */
const NOT_METHODS = new Set(['parameters', 'recovery_conf', 'pg_hba', 'pg_ident', 'authentication', 'bin_name', ...SCRIPT_KEYS]);

/** The stable codes of this rule. */
export const DcsCommandCode = {
  /** A shell command in the dynamic configuration, and the local YAML does not set postgresql.allow_dcs_commands. */
  NotAllowed: 'DCS_COMMAND_NOT_ALLOWED',
  /** A script pgha runs itself (callback, hook, replica method): local YAML only, whatever the switch. */
  LocalOnly: 'DCS_COMMAND_LOCAL_ONLY',
} as const;
export type DcsCommandCode = (typeof DcsCommandCode)[keyof typeof DcsCommandCode];

/** One command found in a dynamic configuration value. */
export interface DcsCommandKey {
  /** Key path inside the value: `postgresql.recovery_conf.archive_cleanup_command`. */
  path: string;
  /** NotAllowed for a shell command PostgreSQL runs, LocalOnly for a script pgha runs. */
  code: DcsCommandCode;
  value: unknown;
  /** The key path in the local YAML whose value applies instead. */
  localPath: string;
}

/** A key dropped or refused, with the sentence to log or answer. */
export interface DcsCommandFinding {
  code: DcsCommandCode;
  path: string;
  message: string;
}

/** Every command in a dynamic configuration value (the `config` key, a merged PATCH, `bootstrap.dcs`). */
export function dcsCommandKeys(config: Tree): DcsCommandKey[] {
  const found: DcsCommandKey[] = [];
  const pg = config['postgresql'];
  if (isTree(pg)) {
    for (const section of ['parameters', 'recovery_conf']) {
      const params = pg[section];
      if (!isTree(params)) continue;
      for (const name of SHELL_COMMAND_SETTINGS) {
        if (params[name] !== undefined) found.push({ path: `postgresql.${section}.${name}`, code: DcsCommandCode.NotAllowed, value: params[name], localPath: `postgresql.${section}.${name}` });
      }
    }
    for (const [key, value] of Object.entries(pg)) {
      if (value === undefined) continue;
      if (SCRIPT_KEYS.includes(key)) found.push({ path: `postgresql.${key}`, code: DcsCommandCode.LocalOnly, value, localPath: `postgresql.${key}` });
      else if (!NOT_METHODS.has(key) && isTree(value) && value['command'] !== undefined) {
        found.push({ path: `postgresql.${key}.command`, code: DcsCommandCode.LocalOnly, value: value['command'], localPath: `postgresql.${key}.command` });
      }
    }
  }
  const standby = config['standby_cluster'];
  if (isTree(standby)) {
    for (const name of SHELL_COMMAND_SETTINGS) {
      // The standby leader writes these next to the local recovery_conf, over it.
      if (standby[name] !== undefined) found.push({ path: `standby_cluster.${name}`, code: DcsCommandCode.NotAllowed, value: standby[name], localPath: `postgresql.recovery_conf.${name}` });
    }
  }
  return found;
}

/** `postgresql.allow_dcs_commands` from a local `postgresql` section; YAML spellings of true count. */
export function dcsCommandsAllowed(localPostgresql: unknown): boolean {
  const v = isTree(localPostgresql) ? localPostgresql['allow_dcs_commands'] : undefined;
  // A security switch: only `true` or its YAML spellings in text turn it on, not the number 1.
  return v === true || (typeof v === 'string' && isTrue(v.trim()));
}

function valueAt(tree: unknown, path: string): unknown {
  let node = tree;
  for (const part of path.split('.')) node = isTree(node) ? node[part] : undefined;
  return node;
}

function sameValue(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    isTree(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : Array.isArray(v) ? v.map(canon) : v;
  try {
    return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
  } catch {
    return false;
  }
}

function deleteAt(tree: Tree, path: string): void {
  const parts = path.split('.');
  let node: Tree = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isTree(next)) return;
    // Copy on the way down: the caller's value is never changed.
    node = node[part] = { ...next };
  }
  delete node[parts[parts.length - 1] as string];
}

function applies(key: DcsCommandKey, allowDcsCommands: boolean): boolean {
  return key.code === DcsCommandCode.NotAllowed && allowDcsCommands;
}

/**
 * The dynamic configuration as it may apply on this member: without the commands the local YAML
 * does not allow, and without the scripts pgha reads from the local YAML only. `ignored` says what
 * was dropped, one sentence each, naming the key and whether a local value applies instead.
 * Never throws; the input is not changed.
 */
export function withoutDcsCommands(config: Tree, options: { allowDcsCommands: boolean; localPostgresql?: unknown }): { config: Tree; ignored: DcsCommandFinding[] } {
  const ignored: DcsCommandFinding[] = [];
  let out = config;
  for (const key of dcsCommandKeys(config)) {
    if (applies(key, options.allowDcsCommands)) continue;
    if (out === config) out = { ...config };
    deleteAt(out, key.path);
    const local = key.localPath.startsWith('postgresql.') ? valueAt(options.localPostgresql, key.localPath.slice('postgresql.'.length)) : undefined;
    const instead = local !== undefined ? `the local ${key.localPath} applies` : `${key.localPath} is not set in the local YAML`;
    const why =
      key.code === DcsCommandCode.NotAllowed
        ? `PostgreSQL runs it as a shell command, and the local YAML does not set ${ALLOW_DCS_COMMANDS}: true`
        : 'pgha runs callbacks, hooks and replica methods only from the local YAML';
    ignored.push({ code: key.code, path: key.path, message: `config.${key.path}: ignored: ${why}; ${instead}` });
  }
  return { config: out, ignored };
}

/**
 * Why writing `next` over `current` (the stored value; null when there is none) must be refused:
 * the first command it introduces or changes that may not come from the DCS; null when none.
 * A command left as it is stored passes; removing one always passes.
 */
export function dcsCommandWriteProblem(next: Tree, current: Tree | null | undefined, allowDcsCommands: boolean): DcsCommandFinding | null {
  for (const key of dcsCommandKeys(next)) {
    if (applies(key, allowDcsCommands)) continue;
    if (current && sameValue(valueAt(current, key.path), key.value)) continue;
    const message =
      key.code === DcsCommandCode.NotAllowed
        ? `${key.path}: PostgreSQL would run it as a shell command on every member; commands are not accepted in the dynamic configuration unless the local YAML sets ${ALLOW_DCS_COMMANDS}: true (or set it locally, in ${key.localPath})`
        : `${key.path}: pgha runs callbacks, hooks and replica methods only from the local YAML (${key.localPath}); a value in the dynamic configuration is never used`;
    return { code: key.code, path: key.path, message };
  }
  return null;
}

/**
 * What every writer of the `config` key checks (PATCH / PUT /config, `pghactl edit-config`,
 * `bootstrap.dcs`): the value rules of config-bounds.ts, then the command rule above. The first
 * problem, by key path; null when the write may go through.
 */
export function dynamicConfigWriteProblem(next: Tree, options: { current?: Tree | null; allowDcsCommands: boolean }): string | null {
  return dynamicConfigProblem(next) ?? dcsCommandWriteProblem(next, options.current, options.allowDcsCommands)?.message ?? null;
}
