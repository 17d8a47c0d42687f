/** Commands that change the dynamic configuration: edit-config, pause, resume. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isPaused, isTrue, type ClusterConfig } from '@pgha/dcs';
import { dcsCommandsAllowed, dynamicConfigWriteProblem } from '@pgha/ha-engine';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCode, isCliError } from '../errors.js';
import { pythonYaml } from '../python-text.js';
import { unifiedDiff } from '../unified-diff.js';
import { FORCE_OPTION, GROUP_OPTION, flagOpt, listOpt, positionals, stringOpt, type CommandDefinition } from './command.js';
import { leaderFirst } from './members.js';
import { loadExistingCluster, warnIfInvalid } from './read.js';

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseYamlValue(text: string, where: string): unknown {
  try {
    return parseYaml(text, { version: '1.1' }) ?? null;
  } catch (e) {
    throw new CliError(CliErrorCode.Usage, `${where}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * `-s key.path=value`: values are YAML, `null` deletes. Below `postgresql.parameters` the rest of
 * the path is one GUC name, since GUCs may contain dots (`pg_stat_statements.max`).
 */
export function applySettings(data: ClusterConfig, pairs: readonly string[]): ClusterConfig {
  const changed = structuredClone(data);
  const setPath = (config: Record<string, unknown>, path: string[], value: unknown, prefix: string[]): void => {
    if (prefix.join('.') === 'postgresql.parameters') path = [path.join('.')];
    const key = path[0]!;
    if (path.length === 1) {
      if (value === null) delete config[key];
      else config[key] = value;
      return;
    }
    if (!isMap(config[key])) config[key] = {};
    const child = config[key] as Record<string, unknown>;
    setPath(child, path.slice(1), value, [...prefix, key]);
    if (Object.keys(child).length === 0) delete config[key];
  };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (!pair || eq === -1) throw new CliError(CliErrorCode.Usage, `Invalid parameter setting ${pair}`);
    const path = pair.slice(0, eq).trim().split('.');
    setPath(changed, path, parseYamlValue(pair.slice(eq + 1), `--set ${pair}`), []);
  }
  return changed;
}

/** Patroni's `patch_config`: deep merge where null deletes. */
export function patchConfig(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isMap(v) && isMap(target[k])) patchConfig(target[k], v);
    else target[k] = v;
  }
}

async function readYamlFile(ctx: CommandContext, file: string): Promise<Record<string, unknown>> {
  let text: string;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of ctx.stdin) chunks.push(Buffer.from(c));
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(CliErrorCode.Usage, `Could not read ${file}: ${(e as Error).message}`);
    }
  }
  const v = parseYamlValue(text, file === '-' ? 'stdin' : file);
  if (v === null) return {};
  if (!isMap(v)) throw new CliError(CliErrorCode.Usage, `${file === '-' ? 'stdin' : file}: expected a YAML map`);
  return v;
}

function invokeEditor(ctx: CommandContext, before: string, cluster: string): ClusterConfig {
  const editor = ctx.env.EDITOR || ['editor', 'vi'].find((e) => spawnSync('which', [e]).status === 0);
  if (!editor) throw new CliError(CliErrorCode.Config, 'EDITOR environment variable is not set. editor or vi are not available');
  const dir = mkdtempSync(join(tmpdir(), `${cluster}-config-`));
  const file = join(dir, 'config.yaml');
  try {
    writeFileSync(file, before);
    // $EDITOR may carry arguments (`code --wait`), as shells split it.
    const r = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'sh', file], { stdio: 'inherit' });
    if (r.status !== 0) throw new CliError(CliErrorCode.Aborted, `Editor exited with return code ${r.status ?? r.signal}`);
    const v = parseYamlValue(readFileSync(file, 'utf8'), 'edited configuration');
    if (v !== null && !isMap(v)) throw new CliError(CliErrorCode.Usage, 'The edited configuration is not a YAML map');
    return v ?? {};
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : Array.isArray(v) ? v.map(canon) : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

export const editConfigCommand: CommandDefinition = {
  name: 'edit-config',
  help: 'Edit cluster configuration',
  args: '[CLUSTER_NAME]',
  options: [
    GROUP_OPTION,
    { key: 'quiet', flags: ['-q', '--quiet'], kind: 'flag', help: 'Do not show changes' },
    { key: 'set', flags: ['-s', '--set'], kind: 'multi', help: 'Set specific configuration value. Can be specified multiple times' },
    { key: 'pg', flags: ['-p', '--pg'], kind: 'multi', help: 'Set specific PostgreSQL parameter value. Shorthand for -s postgresql.parameters. Can be specified multiple times' },
    { key: 'apply', flags: ['--apply'], kind: 'value', help: 'Apply configuration from file. Use - for stdin.' },
    { key: 'replace', flags: ['--replace'], kind: 'value', help: 'Apply configuration from file, replacing existing configuration. Use - for stdin.' },
    FORCE_OPTION,
  ],
  async run(ctx, parsed) {
    const name = ctx.clusterName(positionals(parsed, 1, 'edit-config')[0]);
    const force = flagOpt(parsed, 'force');
    const quiet = flagOpt(parsed, 'quiet');
    const cluster = await loadExistingCluster(ctx, name);
    warnIfInvalid(ctx, cluster);
    const current = cluster.config?.value ?? {};
    // A key that does not parse is replaced: the CAS names its version.
    const version = cluster.config?.version ?? cluster.configError?.version ?? null;
    const before = pythonYaml(current);
    let changed: ClusterConfig | null = null;
    const replace = stringOpt(parsed, 'replace');
    const apply = stringOpt(parsed, 'apply');
    if (replace !== undefined) changed = await readYamlFile(ctx, replace);
    if (apply !== undefined) {
      const base = structuredClone(changed ?? current);
      patchConfig(base, await readYamlFile(ctx, apply));
      changed = base;
    }
    const pairs = [...listOpt(parsed, 'set'), ...listOpt(parsed, 'pg').map((p) => `postgresql.parameters.${p.trimStart()}`)];
    if (pairs.length > 0) changed = applySettings(changed ?? current, pairs);
    if (changed === null) changed = invokeEditor(ctx, before, name);
    if (sameJson(current, changed)) {
      if (!quiet) ctx.emit({ kind: 'text', text: 'Not changed' });
      return 0;
    }
    // The same rules as PATCH /config (config-bounds.ts, dcs-commands.ts): nothing that would break
    // the members' next cycle or postgresql.conf, and no new or changed command unless this
    // file's postgresql.allow_dcs_commands is true, is written.
    const problem = dynamicConfigWriteProblem(changed, { current: cluster.config?.value ?? null, allowDcsCommands: dcsCommandsAllowed(ctx.config.raw['postgresql']) });
    if (problem) throw new CliError(CliErrorCode.Refused, `Invalid configuration, not applied: ${problem}`);
    if (!quiet) ctx.emit({ kind: 'diff', lines: unifiedDiff(before, pythonYaml(changed)) });
    if ((apply === '-' || replace === '-') && !force) {
      ctx.emit({ kind: 'text', text: 'Use --force option to apply changes' });
      return 1;
    }
    if (force || (await ctx.prompter.confirm('Apply these changes?'))) {
      const store = await ctx.store(name);
      const next = changed;
      const ok = await ctx.dcsCall('writing the config key', () => store.setConfig(next, version));
      if (!ok) throw new CliError(CliErrorCode.Refused, 'Config modification aborted due to concurrent changes');
      ctx.emit({ kind: 'text', text: 'Configuration changed' });
      return 0;
    }
    return 1;
  },
};

async function togglePause(ctx: CommandContext, name: string, paused: boolean, wait: boolean): Promise<number> {
  const cluster = await loadExistingCluster(ctx, name);
  if (isPaused(cluster) === paused) throw new CliError(CliErrorCode.Refused, `Cluster is ${paused ? 'already' : 'not'} paused`);
  const word = paused ? 'pause' : 'resume';
  let done = false;
  for (const member of leaderFirst(cluster)) {
    let r;
    try {
      r = await ctx.api(member, { method: 'PATCH', endpoint: 'config', body: { pause: paused || null } });
    } catch (e) {
      if (isCliError(e, CliErrorCode.Api)) continue;
      throw e;
    }
    // An agent without PATCH /config: write the key ourselves below, with CAS.
    if (r.status === 404 || r.status === 405 || r.status === 501) break;
    if (r.status !== 200) {
      ctx.emit({ kind: 'text', text: `Failed: ${word} cluster management status code=${r.status}, (${r.body})` });
      return 1;
    }
    done = true;
    break;
  }
  if (!done) {
    const store = await ctx.store(name);
    const next = structuredClone(cluster.config?.value ?? {});
    if (paused) next.pause = true;
    else delete next.pause;
    const ok = await ctx.dcsCall('writing the config key', () => store.setConfig(next, cluster.config?.version ?? null));
    if (!ok) throw new CliError(CliErrorCode.Refused, 'Config modification aborted due to concurrent changes');
  }
  if (!wait) {
    ctx.emit({ kind: 'text', text: `Success: cluster management is ${paused ? 'paused' : 'resumed'}` });
    return 0;
  }
  ctx.emit({ kind: 'text', text: `'${word}' request sent, waiting until it is recognized by all nodes` });
  const loopWait = Number(cluster.config?.value.loop_wait ?? 10);
  const known = new Set(cluster.members.filter((m) => m.data.api_url).map((m) => m.name));
  const deadline = Date.now() + (loopWait + 1) * 1000;
  let remaining: string[];
  for (;;) {
    const now = await ctx.loadCluster(name);
    remaining = now.members.filter((m) => known.has(m.name) && isTrue(m.data.pause) !== paused).map((m) => m.name);
    if (remaining.length === 0 || Date.now() >= deadline) break;
    await ctx.sleep(1000);
  }
  if (remaining.length > 0) {
    ctx.emit({ kind: 'text', text: `${remaining.join(', ')} members didn't recognized pause state after ${loopWait} seconds` });
    return 1;
  }
  ctx.emit({ kind: 'text', text: `Success: cluster management is ${paused ? 'paused' : 'resumed'}` });
  return 0;
}

const WAIT_OPTION = { key: 'wait', flags: ['--wait'], kind: 'flag', help: 'Wait until the change is applied on all nodes' } as const;

export const pauseCommand: CommandDefinition = {
  name: 'pause',
  help: 'Disable auto failover',
  args: '[CLUSTER_NAME]',
  options: [GROUP_OPTION, WAIT_OPTION],
  run: (ctx, parsed) => togglePause(ctx, ctx.clusterName(positionals(parsed, 1, 'pause')[0]), true, flagOpt(parsed, 'wait')),
};

export const resumeCommand: CommandDefinition = {
  name: 'resume',
  help: 'Resume auto failover',
  args: '[CLUSTER_NAME]',
  options: [GROUP_OPTION, WAIT_OPTION],
  run: (ctx, parsed) => togglePause(ctx, ctx.clusterName(positionals(parsed, 1, 'resume')[0]), false, flagOpt(parsed, 'wait')),
};
