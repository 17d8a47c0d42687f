/**
 * The agent's whole configuration schema, assembled from each package's own section schema. It
 * accepts a Patroni YAML file unchanged: sections and keys pgha does not use are kept and
 * reported as warnings, never rejected. Errors name the key path (`postgresql.listen: ...`).
 */
import { z } from 'zod';
import { parseMaximumLagOnFailover } from '@pgha/ha-engine';
import { bootstrapSectionSchema, postgresqlSectionSchema } from '@pgha/postgres-controller';

const flexibleBoolean = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  if (/^(true|on|yes|1)$/i.test(v.trim())) return true;
  if (/^(false|off|no|0)$/i.test(v.trim())) return false;
  return v;
}, z.boolean());

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
  file_num: z.coerce.number().int().optional(),
  file_size: z.coerce.number().int().optional(),
  loggers: z.record(z.string(), z.unknown()).optional(),
});

export const watchdogSectionSchema = z.looseObject({
  // Patroni accepts several spellings (`required`/`require`, `automatic`/`auto`, `off`/`disabled`,
  // and YAML booleans for a bare `off`); @pgha/watchdog reads them, with warnings for the rest.
  mode: z.union([z.string(), z.boolean()]).optional(),
  device: z.string().optional(),
  safety_margin: z.coerce.number().optional(),
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

export const agentConfigSchema = z.looseObject({
  scope: z.coerce.string().min(1),
  namespace: z.string().default('/service'),
  name: z.coerce.string().min(1),
  log: logSectionSchema.optional(),
  restapi: restapiSectionSchema,
  ctl: ctlSectionSchema.optional(),
  bootstrap: bootstrapSectionSchema.optional(),
  postgresql: postgresqlSectionSchema,
  watchdog: watchdogSectionSchema.optional(),
  tags: z.record(z.string(), z.unknown()).default({}),
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** Top-level keys pgha reads; the DCS sections are read by the plugin loader. */
const KNOWN_SECTIONS = new Set([
  ...Object.keys(agentConfigSchema.shape),
  'etcd3', 'etcd', 'zookeeper', 'consul', 'kubernetes', 'raft', 'exhibitor', 'citus',
]);

/** A configuration that does not validate: every problem, one per line, with its key path. */
export class ConfigValidationError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
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
  // Checked here rather than left to the engine's warning: a typo in the YAML should stop the
  // agent before it writes the value to the DCS for every member.
  const lag = result.data.bootstrap?.dcs?.['maximum_lag_on_failover'];
  if (lag !== undefined && lag !== null) {
    const parsed = parseMaximumLagOnFailover(lag);
    if (!parsed.ok) throw new ConfigValidationError([`bootstrap.dcs.maximum_lag_on_failover: ${parsed.error}`]);
  }
  const warnings = Object.keys(raw)
    .filter((k) => !KNOWN_SECTIONS.has(k) && !(typeof raw[k] === 'object' && raw[k] !== null && 'driver' in (raw[k] as object)))
    .map((k) => `${k}: unknown section, ignored`);
  return { config: result.data, warnings };
}
