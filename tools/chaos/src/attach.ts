/**
 * `--attach <file>`: run the rounds against an existing cluster. The file (YAML or JSON) lists
 * the members (name, REST API URL, a superuser DSN for the writer and the checks) and, per action,
 * the shell command that performs it on a member (`kill_agent: ssh {host} sudo systemctl kill -s
 * KILL pgha`). Placeholders: `{member}` (the member's name) and the member's `vars`. Only the
 * faults whose actions all have commands run. Timing, replication mode and
 * `maximum_lag_on_failover` come from the cluster's dynamic configuration (`GET /config`).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseYaml } from '@pgha/local-cluster';
import { isTrue } from '@pgha/primitives';
import type { ActionName, ChaosMember, ChaosTarget, FaultActions, ReplicationMode } from './target.js';

/** Command keys of the file and the actions they perform. */
export const COMMAND_KEYS = {
  kill_agent: 'killAgent',
  start_agent: 'startAgent',
  kill_postmaster: 'killPostmaster',
  stop_agent: 'stopAgent',
  cont_agent: 'contAgent',
  freeze_dcs: 'freezeDcs',
  thaw_dcs: 'thawDcs',
  kill_dcs: 'killDcs',
  start_dcs: 'startDcs',
  cut_dcs: 'cutDcs',
  heal_dcs: 'healDcs',
  cut_peers: 'cutPeers',
  heal_peers: 'healPeers',
  set_clock_offset: 'setClockOffset',
} as const satisfies Record<string, ActionName>;
export type CommandKey = keyof typeof COMMAND_KEYS;

export interface AttachMember {
  name: string;
  api: string;
  dsn: string;
  vars: Record<string, string>;
}

export interface AttachConfig {
  /** Where it was read from, for messages. */
  source: string;
  members: AttachMember[];
  commands: Partial<Record<CommandKey, string>>;
}

export class AttachConfigError extends Error {
  readonly code = 'CHAOS_ATTACH_CONFIG';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks an attach file's text; errors name the file and the key. */
export function parseAttachConfig(text: string, source: string): AttachConfig {
  const fail = (key: string, what: string): never => {
    throw new AttachConfigError(`${source}: ${key}: ${what}`);
  };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return fail('(file)', `not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObject(doc)) return fail('(file)', 'expected a mapping with members and commands');
  for (const key of Object.keys(doc)) {
    if (key !== 'members' && key !== 'commands') fail(key, 'unknown key (expected members, commands)');
  }
  const list = doc['members'];
  if (!Array.isArray(list) || list.length < 2) return fail('members', 'expected a list of at least 2 members');
  const names = new Set<string>();
  const members = list.map((raw: unknown, i): AttachMember => {
    const at = `members[${i}]`;
    if (!isObject(raw)) return fail(at, 'expected a mapping with name, api, dsn');
    for (const key of Object.keys(raw)) {
      if (!['name', 'api', 'dsn', 'vars'].includes(key)) fail(`${at}.${key}`, 'unknown key (expected name, api, dsn, vars)');
    }
    const name = raw['name'];
    if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) return fail(`${at}.name`, 'expected the member name (letters, digits, ._-)');
    if (names.has(name)) fail(`${at}.name`, `duplicate member "${name}"`);
    names.add(name);
    const api = raw['api'];
    if (typeof api !== 'string' || !/^https?:\/\/[^/]+\/?$/.test(api)) return fail(`${at}.api`, 'expected the REST API base URL, e.g. http://10.0.0.1:8008');
    const dsn = raw['dsn'];
    if (typeof dsn !== 'string' || !/^postgres(ql)?:\/\//.test(dsn)) return fail(`${at}.dsn`, 'expected a postgresql:// connection URI of a superuser');
    const vars: Record<string, string> = {};
    const rawVars = raw['vars'] ?? {};
    if (!isObject(rawVars)) return fail(`${at}.vars`, 'expected a mapping of placeholder names to strings');
    for (const [k, v] of Object.entries(rawVars)) {
      if (typeof v !== 'string' && typeof v !== 'number') fail(`${at}.vars.${k}`, 'expected a string');
      vars[k] = String(v);
    }
    return { name, api: api.replace(/\/$/, ''), dsn, vars };
  });
  const rawCommands = doc['commands'] ?? {};
  if (!isObject(rawCommands)) return fail('commands', 'expected a mapping of action to shell command');
  const commands: Partial<Record<CommandKey, string>> = {};
  for (const [key, value] of Object.entries(rawCommands)) {
    if (!(key in COMMAND_KEYS)) fail(`commands.${key}`, `unknown action (expected one of ${Object.keys(COMMAND_KEYS).join(', ')})`);
    if (typeof value !== 'string' || value.trim() === '') fail(`commands.${key}`, 'expected a shell command');
    commands[key as CommandKey] = value as string;
  }
  return { source, members, commands };
}

export function loadAttachConfig(path: string): AttachConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AttachConfigError(`${path}: cannot read: ${(e as Error).message}`);
  }
  return parseAttachConfig(text, path);
}

/** `template` with `{member}`, `{offset}` and the member's vars filled in; an unknown placeholder is an error. */
export function fillCommand(template: string, member: AttachMember | null, extra: Record<string, string> = {}): string {
  const values: Record<string, string> = { ...(member ? { member: member.name, ...member.vars } : {}), ...extra };
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) throw new AttachConfigError(`command "${template}": no value for ${whole}${member ? ` on ${member.name}` : ''}`);
    return v;
  });
}

function run(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`"${command}" failed: ${(stderr.trim() || error.message).split('\n')[0]}`));
      else resolve();
    });
  });
}

function modeOf(config: Record<string, unknown>): ReplicationMode {
  const sync = config['synchronous_mode'];
  if (sync === 'quorum') return 'quorum';
  if (isTrue(sync)) return isTrue(config['synchronous_mode_strict']) ? 'strict' : 'on';
  return 'async';
}

export async function attachTarget(config: AttachConfig, timeoutMs: number): Promise<ChaosTarget> {
  const members: ChaosMember[] = config.members.map((m) => ({ name: m.name, apiUrl: m.api, pg: { connectionString: m.dsn } }));
  // The dynamic configuration, from whichever member answers first.
  let dynamic: Record<string, unknown> | null = null;
  const deadline = Date.now() + timeoutMs;
  while (!dynamic) {
    for (const m of config.members) {
      const res = await fetch(`${m.api}/config`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      const body = (await res?.json().catch(() => null)) as unknown;
      if (res?.ok && isObject(body)) {
        dynamic = body;
        break;
      }
    }
    if (!dynamic && Date.now() > deadline) throw new Error(`${config.source}: no member answered GET /config`);
    if (!dynamic) await new Promise((r) => setTimeout(r, 500));
  }
  const num = (key: string, fallback: number) => (typeof dynamic[key] === 'number' ? dynamic[key] : fallback);

  const byName = new Map(config.members.map((m) => [m.name, m]));
  const actions: Partial<FaultActions> = {};
  for (const [key, action] of Object.entries(COMMAND_KEYS) as [CommandKey, (typeof COMMAND_KEYS)[CommandKey]][]) {
    const template = config.commands[key];
    if (template === undefined) continue;
    if (action === 'setClockOffset') {
      actions.setClockOffset = (m, offsetS) => run(fillCommand(template, byName.get(m.name)!, { offset: String(offsetS) }));
    } else if (action === 'freezeDcs' || action === 'thawDcs' || action === 'killDcs' || action === 'startDcs') {
      actions[action] = () => run(fillCommand(template, null));
    } else {
      actions[action] = (m: ChaosMember) => run(fillCommand(template, byName.get(m.name)!));
    }
  }
  const mode = modeOf(dynamic);
  return {
    description: `attached cluster (${config.source}): ${members.map((m) => m.name).join(', ')}`,
    members,
    mode,
    timing: { ttl: num('ttl', 30), loopWait: num('loop_wait', 10), retryTimeout: num('retry_timeout', 10) },
    maximumLagOnFailover: num('maximum_lag_on_failover', 1048576),
    actions,
    // The fault commands undo what they do (start_agent, cont_agent, heal_*): nothing else to restart.
    async restartStopped() {},
    async close() {},
  };
}
