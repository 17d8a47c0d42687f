/**
 * The agent's whole configuration schema, assembled from each package's own section schema. It
 * accepts a Patroni YAML file unchanged: sections and keys pgha does not use are kept and
 * reported as warnings, never rejected. Errors name the key path (`postgresql.listen: ...`).
 */
import { z } from 'zod';
import { PghaError, parseBool } from '@pgha/dcs';
import { logSettingsOf, LogSettingsError, type LogSection } from '../logging/index.js';
import { dynamicConfigWriteProblem, MAX_DECISIONS_HISTORY, SAFETY_MARGIN_LIMIT } from '@pgha/ha-engine';
import { authenticationSchema, bootstrapSectionSchema, postgresqlSectionSchema } from '@pgha/postgres-controller';
import { SERVER_TOKENS, type ServerTokens } from '@pgha/rest-api';

// YAML and environment spellings of a boolean (`on`, `"yes"`, ...), read as Patroni's parse_bool.
const flexibleBoolean = z.preprocess((v) => (typeof v === 'string' ? (parseBool(v.trim()) ?? v) : v), z.boolean());

/** `host:port` as Patroni writes listen and connect addresses (`0.0.0.0:8008`, `[::1]:8008`, `:8008`). */
export const hostPortSchema = z.string().regex(/^(\[[^\]]+\]|[^:\s]*):\d{1,5}$/, 'expected host:port');

/**
 * `restapi.http_extra_headers` and friends: names and values HTTP can carry. Node refuses to send
 * a header with CR, LF or a character above U+00FF (`ERR_INVALID_CHAR`) and would throw on every
 * response, so they are refused here, naming the header (YAML's `|` appends a newline).
 */
const extraHeadersSchema = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `${JSON.stringify(name)} is not a valid HTTP header name` });
    } else if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'the value contains CR, LF or a character HTTP headers cannot carry (only tab, printable ASCII and Latin-1)' });
    }
  }
});

/** `restapi.server_tokens`: Patroni 4.1's values, in any case (Patroni compares them lower-cased). */
const serverTokensSchema = z.string().transform((v, ctx): ServerTokens => {
  const token = v.trim().toLowerCase();
  if ((SERVER_TOKENS as readonly string[]).includes(token)) return token as ServerTokens;
  ctx.addIssue({ code: 'custom', message: `expected ${SERVER_TOKENS.join(', ')} (in any case), got ${JSON.stringify(v)}` });
  return z.NEVER;
});

export const restapiSectionSchema = z.looseObject({
  listen: hostPortSchema,
  connect_address: hostPortSchema.optional(),
  authentication: z.looseObject({ username: z.coerce.string(), password: z.coerce.string() }).optional(),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  keyfile_password: z.string().optional(),
  cafile: z.string().optional(),
  ciphers: z.string().optional(),
  verify_client: z.enum(['none', 'optional', 'required']).optional(),
  allowlist: z.array(z.string()).optional(),
  allowlist_include_members: flexibleBoolean.optional(),
  http_extra_headers: extraHeadersSchema.optional(),
  https_extra_headers: extraHeadersSchema.optional(),
  request_queue_size: z.coerce.number().int().positive().optional(),
  server_tokens: serverTokensSchema.optional(),
  // pgha's own: decision records GET /decisions keeps (default 100, 0 = none); read at start.
  decisions_history: z.coerce.number().int().min(0).max(MAX_DECISIONS_HISTORY).optional(),
}).superRefine((r, ctx) => {
  // Without cafile, node would check client certificates against the public root CAs: any
  // certificate a public CA signed would pass as a member's or an operator's.
  if (r.verify_client !== undefined && r.verify_client !== 'none' && !r.cafile) {
    ctx.addIssue({ code: 'custom', path: ['verify_client'], message: `${r.verify_client} needs restapi.cafile, the CA that signs the client certificates (without it any publicly signed certificate would pass)` });
  }
});
export type RestapiSection = z.infer<typeof restapiSectionSchema>;

export const logSectionSchema = z.looseObject({
  type: z.enum(['plain', 'json']).optional(),
  level: z.string().optional(),
  traceback_level: z.string().optional(),
  format: z.union([z.string(), z.array(z.unknown())]).optional(),
  dateformat: z.string().optional(),
  static_fields: z.record(z.string(), z.unknown()).optional(),
  dir: z.string().optional(),
  mode: z.union([z.number(), z.string()]).optional(),
  // Patroni's log queue bound and heartbeat de-duplication: accepted; pgha logs without a queue thread.
  max_queue_size: z.coerce.number().int().optional(),
  deduplicate_heartbeat_logs: z.unknown().optional(),
  file_num: z.coerce.number().int().optional(),
  file_size: z.coerce.number().int().optional(),
  loggers: z.record(z.string(), z.unknown()).optional(),
}).superRefine((section, ctx) => {
  // The logging's own reading of the section, so a file the agent starts with and one it reloads are judged alike.
  try {
    logSettingsOf(section as LogSection);
  } catch (e) {
    if (!(e instanceof LogSettingsError)) throw e;
    for (const p of e.problems) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  }
});

export const watchdogSectionSchema = z.looseObject({
  // Patroni accepts several spellings (`required`/`require`, `automatic`/`auto`, `off`/`disabled`,
  // and YAML booleans for a bare `off`); @pgha/watchdog reads them, with warnings for the rest.
  mode: z.union([z.string(), z.boolean()]).optional(),
  device: z.string().optional(),
  // Seconds, or -1 for ttl/2 (Patroni); bounded so the watchdog timeout stays a usable timer.
  safety_margin: z.coerce
    .number()
    .refine((n) => n === -1 || (n >= SAFETY_MARGIN_LIMIT.min && n <= SAFETY_MARGIN_LIMIT.max), `expected -1 or seconds between ${SAFETY_MARGIN_LIMIT.min} and ${SAFETY_MARGIN_LIMIT.max}`)
    .optional(),
  driver: z.string().optional(),
});

export const ctlSectionSchema = z.looseObject({
  authentication: z.looseObject({ username: z.coerce.string(), password: z.coerce.string() }).optional(),
  insecure: flexibleBoolean.optional(),
  cacert: z.string().optional(),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  keyfile_password: z.string().optional(),
});

/**
 * The local `postgresql:` section: the controller's, plus the agent's own switch
 * `allow_dcs_commands` (pgha's key; Patroni has none): commands PostgreSQL runs
 * (`archive_command`, `restore_command`, ...) apply from the dynamic configuration only when it is
 * true (ha-engine dcs-commands.ts). Read at start; a reload that changes it says it needs a restart.
 */
export const agentPostgresqlSectionSchema = postgresqlSectionSchema.extend({
  allow_dcs_commands: flexibleBoolean.optional(),
});

/**
 * `patroni_compatibility` (pgha's key; Patroni has none): whose names the agent uses where
 * Patroni 4.0 renamed `master` to `primary` (member key, `GET /patroni`, callbacks' role argument,
 * the `patroni_master` metric). `3` or `4`; absent or `auto` = 4 when another member runs Patroni
 * 4, else 3 (ha-engine patroni-dialect.ts). Read at start.
 */
export const patroniCompatibilitySchema = z.preprocess(
  (v) => (typeof v === 'string' ? (/^\s*auto\s*$/i.test(v) ? null : Number(v.trim())) : v),
  z.union([z.literal(3), z.literal(4), z.null()], { error: 'expected 3, 4 or auto' }),
);

export const agentConfigSchema = z.looseObject({
  scope: z.coerce.string().min(1),
  namespace: z.string().default('/service'),
  name: z.coerce.string().min(1),
  log: logSectionSchema.optional(),
  restapi: restapiSectionSchema,
  ctl: ctlSectionSchema.optional(),
  bootstrap: bootstrapSectionSchema.optional(),
  postgresql: agentPostgresqlSectionSchema,
  watchdog: watchdogSectionSchema.optional(),
  tags: z.record(z.string(), z.unknown()).default({}),
  patroni_compatibility: patroniCompatibilitySchema.optional(),
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** Top-level keys pgha reads; the DCS sections are read by the plugin loader. */
const KNOWN_SECTIONS = new Set([
  ...Object.keys(agentConfigSchema.shape),
  'etcd3', 'etcd', 'zookeeper', 'consul', 'kubernetes', 'raft', 'exhibitor', 'citus',
]);

/** A configuration that does not validate: every problem, one per line, with its key path. */
export class ConfigValidationError extends PghaError<'CONFIG_INVALID'> {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
    this.problems = problems;
  }
}

function pathOf(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') || '(top level)';
}

/** Validates the merged local configuration. Throws ConfigValidationError listing every problem. */
export function validateAgentConfig(raw: Record<string, unknown>): { config: AgentConfig; warnings: string[] } {
  const result = agentConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigValidationError(result.error.issues.map((i) => `${pathOf(i.path)}: ${i.message}`));
  }
  // Checked here with the rules PATCH /config uses (config-bounds.ts, dcs-commands.ts) rather
  // than left to the engine's warning: a typo in the YAML should stop the agent before it writes
  // the value to the DCS for every member, and a command this member would not apply from there
  // should be moved to the local section (or allowed) now, not found missing later.
  const dcs = result.data.bootstrap?.dcs;
  const problem = dcs ? dynamicConfigWriteProblem(dcs, { current: null, allowDcsCommands: result.data.postgresql.allow_dcs_commands === true }) : null;
  if (problem) throw new ConfigValidationError([`bootstrap.dcs.${problem}`]);
  const warnings = Object.keys(raw)
    .filter((k) => !KNOWN_SECTIONS.has(k) && !(typeof raw[k] === 'object' && raw[k] !== null && 'driver' in (raw[k] as object)))
    .map((k) => `${k}: unknown section, ignored`);
  warnings.push(...unknownKeyWarnings(raw));
  return { config: result.data, warnings };
}

type Shape = Record<string, unknown>;
const credentialsShape: Shape = { username: true, password: true };

/**
 * Sections whose keys are all known, so that a key pgha does not know there is almost surely a
 * typo: `restapi.authentification` or `restapi.verify_clients` would otherwise leave the API open
 * without a word. (`postgresql` and `bootstrap` are left out: Patroni puts settings under keys named
 * after replica and bootstrap methods there.)
 */
const CLOSED_SECTIONS: ReadonlyArray<readonly [string, Shape]> = [
  ['restapi', restapiSectionSchema.shape],
  ['restapi.authentication', credentialsShape],
  ['ctl', ctlSectionSchema.shape],
  ['ctl.authentication', credentialsShape],
  ['watchdog', watchdogSectionSchema.shape],
  ['log', logSectionSchema.shape],
  ['postgresql.authentication', { superuser: true, replication: true, rewind: true }],
  ['postgresql.authentication.superuser', authenticationSchema.shape],
  ['postgresql.authentication.replication', authenticationSchema.shape],
  ['postgresql.authentication.rewind', authenticationSchema.shape],
];

/** `path: unknown key, ignored` for every key of a closed section that the schema does not name. */
export function unknownKeyWarnings(raw: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  for (const [path, shape] of CLOSED_SECTIONS) {
    let node: unknown = raw;
    for (const part of path.split('.')) node = typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Shape)[part] : undefined;
    if (typeof node !== 'object' || node === null || Array.isArray(node)) continue;
    for (const key of Object.keys(node)) {
      if (!Object.hasOwn(shape, key)) warnings.push(`${path}.${key}: unknown key, ignored`);
    }
  }
  return warnings;
}
