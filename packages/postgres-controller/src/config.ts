/**
 * The `postgresql:` and `bootstrap:` sections of a Patroni YAML file, and the `postgresql` part of
 * the dynamic configuration in the DCS, as zod schemas. Keys keep Patroni's snake_case spelling so
 * a Patroni file parses unchanged. Both sections are loose objects: Patroni puts per-method
 * settings under keys named after the method (`bootstrap.<method>`, `postgresql.<method>`), and
 * unknown keys are tolerated rather than rejected, as Patroni does. The agent assembles its full
 * config schema from these.
 */
import { z } from 'zod';
import { parseBool } from '@pgha/primitives';
import { CHANNEL_BINDING_MODES, GSSENC_MODES, SSL_MODES, SSL_NEGOTIATIONS } from './connection-security.js';
import { PostgresError, PostgresErrorCode } from './errors.js';
import { PARAMETER_NAME } from './parameters.js';

/** YAML and environment variables give booleans as `true`, `on`, `"yes"`, ... Accept them all. */
const flexibleBoolean = z.preprocess((v) => (typeof v === 'string' ? (parseBool(v.trim()) ?? v) : v), z.boolean());

/** Seconds given as a number or a numeric string. */
const seconds = z.coerce.number().nonnegative();

/** A GUC value as YAML spells it. Rendered to PostgreSQL's text form by `parameters.ts`. */
export const parameterValueSchema = z.union([z.string(), z.number(), z.boolean()]);
export type ParameterValue = z.infer<typeof parameterValueSchema>;

/** Parameter names and values that render as exactly one postgresql.conf line each. */
export const parametersSchema = z.record(
  z.string().regex(PARAMETER_NAME, 'not a valid parameter name'),
  parameterValueSchema.refine((v) => typeof v !== 'string' || !/[\r\n\0]/.test(v), 'a value must not contain a line break or NUL'),
);

/**
 * Connection settings for one role (`postgresql.authentication.<superuser|replication|rewind>`).
 * The libpq keys go into every libpq connection string of that role (pg_basebackup, pg_rewind,
 * primary_conninfo) and are applied by the agent's own SQL connections (connection-security.ts).
 * Values libpq would reject are refused here, naming the key.
 */
export const authenticationSchema = z.looseObject({
  username: z.string().min(1).optional(),
  password: z.union([z.string(), z.number()]).transform(String).optional(),
  sslmode: z.enum(SSL_MODES).optional(),
  sslkey: z.string().optional(),
  sslpassword: z.string().optional(),
  sslcert: z.string().optional(),
  sslrootcert: z.string().optional(),
  sslcrl: z.string().optional(),
  sslcrldir: z.string().optional(),
  sslnegotiation: z.enum(SSL_NEGOTIATIONS).optional(),
  gssencmode: z.enum(GSSENC_MODES).optional(),
  channel_binding: z.enum(CHANNEL_BINDING_MODES).optional(),
});
export type Authentication = z.infer<typeof authenticationSchema>;

/**
 * Command-line options for initdb / pg_basebackup: Patroni accepts a list whose items are a bare
 * option name (`data-checksums`) or a one-key map (`{encoding: UTF8}`), and for basebackup also a
 * plain map.
 */
const optionItemSchema = z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))]);
export const commandOptionsSchema = z.union([
  z.array(optionItemSchema),
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
]);
export type CommandOptions = z.infer<typeof commandOptionsSchema>;

export const callbacksSchema = z.looseObject({
  on_start: z.string().optional(),
  on_stop: z.string().optional(),
  on_restart: z.string().optional(),
  on_reload: z.string().optional(),
  on_role_change: z.string().optional(),
});
export type Callbacks = z.infer<typeof callbacksSchema>;

/**
 * Settings of one replica creation method (`postgresql.<method>`), or of a custom bootstrap method
 * (`bootstrap.<method>`). Keys other than the known ones become `--key=value` arguments.
 */
export const methodSettingsSchema = z.looseObject({
  command: z.string().optional(),
  keep_data: flexibleBoolean.optional(),
  no_params: flexibleBoolean.optional(),
  no_leader: flexibleBoolean.optional(),
  keep_existing_recovery_conf: flexibleBoolean.optional(),
  recovery_conf: z.record(z.string(), parameterValueSchema).optional(),
});
export type MethodSettings = z.infer<typeof methodSettingsSchema>;

/** The local `postgresql:` section. */
export const postgresqlSectionSchema = z.looseObject({
  /** `host[,host...]:port`; the addresses go to listen_addresses, the port to port. */
  listen: z.string().min(1),
  /** `host:port` other members and clients use to reach this server. */
  connect_address: z.string().min(1).optional(),
  proxy_address: z.string().optional(),
  data_dir: z.string().min(1),
  /** Where postgresql.conf, pg_hba.conf and pg_ident.conf live; defaults to data_dir. */
  config_dir: z.string().min(1).optional(),
  bin_dir: z.string().optional(),
  bin_name: z
    .looseObject({
      pg_ctl: z.string().optional(),
      initdb: z.string().optional(),
      pg_controldata: z.string().optional(),
      pg_basebackup: z.string().optional(),
      postgres: z.string().optional(),
      pg_isready: z.string().optional(),
      pg_rewind: z.string().optional(),
    })
    .optional(),
  /**
   * The password file libpq reads (PGPASSFILE, primary_conninfo's passfile). Default
   * `<data_dir>.pgha/pgpass`, in a 0700 directory of the PostgreSQL user (pgpass-file.ts).
   */
  pgpass: z.string().optional(),
  /** The DBA's own configuration file, included by the generated postgresql.conf instead of postgresql.base.conf. */
  custom_conf: z.string().optional(),
  authentication: z
    .looseObject({
      superuser: authenticationSchema.optional(),
      replication: authenticationSchema.optional(),
      rewind: authenticationSchema.optional(),
    })
    .optional(),
  parameters: parametersSchema.optional(),
  pg_hba: z.array(z.string()).optional(),
  pg_ident: z.array(z.string()).optional(),
  recovery_conf: z.record(z.string(), parameterValueSchema).optional(),
  callbacks: callbacksSchema.optional(),
  pre_promote: z.string().optional(),
  before_stop: z.string().optional(),
  create_replica_methods: z.array(z.string().min(1)).optional(),
  basebackup: commandOptionsSchema.optional(),
  pg_ctl_timeout: seconds.optional(),
  use_pg_rewind: flexibleBoolean.optional(),
  remove_data_directory_on_rewind_failure: flexibleBoolean.optional(),
  remove_data_directory_on_diverged_timelines: flexibleBoolean.optional(),
  use_unix_socket: flexibleBoolean.optional(),
  use_unix_socket_repl: flexibleBoolean.optional(),
});
export type PostgresqlSection = z.infer<typeof postgresqlSectionSchema>;

/** `bootstrap.users.<name>` (Patroni ≤ 3.x). */
export const bootstrapUserSchema = z.looseObject({
  password: z.union([z.string(), z.number()]).transform(String).optional(),
  options: z.array(z.string()).optional(),
});

/** The `bootstrap:` section (its `dcs` part belongs to the agent and is kept as is). */
export const bootstrapSectionSchema = z.looseObject({
  dcs: z.record(z.string(), z.unknown()).optional(),
  /** `initdb` (default) or the name of a custom method configured under `bootstrap.<name>`. */
  method: z.string().min(1).optional(),
  initdb: z.array(optionItemSchema).optional(),
  pg_hba: z.array(z.string()).optional(),
  users: z.record(z.string(), bootstrapUserSchema).optional(),
  post_bootstrap: z.string().optional(),
  post_init: z.string().optional(),
});
export type BootstrapSection = z.infer<typeof bootstrapSectionSchema>;

/** The `postgresql` part of the dynamic configuration (`/config` in the DCS). */
export const dynamicPostgresqlSchema = z.looseObject({
  use_pg_rewind: flexibleBoolean.optional(),
  use_slots: flexibleBoolean.optional(),
  parameters: parametersSchema.optional(),
  pg_hba: z.array(z.string()).optional(),
  pg_ident: z.array(z.string()).optional(),
  recovery_conf: z.record(z.string(), parameterValueSchema).optional(),
  remove_data_directory_on_rewind_failure: flexibleBoolean.optional(),
  remove_data_directory_on_diverged_timelines: flexibleBoolean.optional(),
});
export type DynamicPostgresql = z.infer<typeof dynamicPostgresqlSchema>;

/**
 * Parses a section, turning zod's issues into one PG_CONFIG error whose message names each bad
 * key path (`postgresql.pg_ctl_timeout: expected number`).
 */
export function parseSection<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = [path, ...issue.path.map(String)].join('.');
    return `${where}: ${issue.message}`;
  });
  throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: ${problems.join('; ')}`);
}

/**
 * The settings of a named method (`postgresql.<name>` or `bootstrap.<name>`), parsed leniently:
 * a missing or malformed entry gives undefined and the caller reports it with the key path.
 */
export function methodSettings(section: Record<string, unknown>, name: string): MethodSettings | undefined {
  const raw = section[name];
  if (raw === undefined || raw === null) return undefined;
  const parsed = methodSettingsSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
