/**
 * What the controller's configuration says, and everything that follows from it without I/O:
 * paths, program locations, roles and credentials, how the agent connects to its own server and
 * to a peer, the pg_hba/pg_ident lines and the standby settings. `update` swaps a section on
 * reload; nothing here reads or writes a file.
 */
import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { BootstrapSection, DynamicPostgresql, PostgresqlSection } from './config.js';
import type { ReplicationSource } from './contract.js';
import type { StandbySettings } from './config-files.js';
import { formatConninfo, localHostFor, parseHostPort, sslOptions, type HostPort } from './conninfo.js';
import { defaultPgpassPath, type PgpassLocation } from './pgpass-file.js';
import { renderParameterValue } from './parameters.js';
import type { ConnectionTarget } from './sql.js';

/** The PostgreSQL programs the controller runs (`postgresql.bin_name` may rename each). */
export type PostgresProgram = 'postgres' | 'initdb' | 'pg_controldata' | 'pg_basebackup' | 'pg_rewind' | 'pg_waldump';

/** The configured roles the agent connects as. */
export type AuthRole = 'superuser' | 'replication' | 'rewind';

export interface ControllerTimeouts {
  /** Each SQL query. */
  queryMs: number;
  /** pre_promote and before_stop. */
  hookMs: number;
  /** An asynchronous callback. */
  callbackMs: number;
  /** initdb, custom bootstrap, post_bootstrap, each replica method, pg_rewind, pg_waldump, single-user recovery. */
  longMs: number;
  /** How often an adopted postmaster's pid is checked. */
  adoptedPollMs: number;
}

export interface SettingsInput {
  name: string;
  scope: string;
  postgresql: PostgresqlSection;
  dynamic?: DynamicPostgresql | undefined;
  bootstrap?: BootstrapSection | undefined;
  timeouts: ControllerTimeouts;
  /** A name, or a function asked at each callback. */
  primaryRoleName: string | (() => string);
}

export class ControllerSettings {
  /** This member's name: application_name towards the primary, and its slot name. */
  readonly name: string;
  /** The cluster name (`scope`). */
  readonly scope: string;
  readonly timeouts: ControllerTimeouts;
  /** Role name passed to callbacks for a primary (`primary`, or 3.x's `master`), asked at each callback. */
  readonly primaryRoleName: () => string;
  local: PostgresqlSection;
  dynamic: DynamicPostgresql;
  bootstrap: BootstrapSection;
  listen: HostPort;
  /**
   * True between a custom bootstrap's restore and the superuser password being set: the restored
   * data directory's roles have passwords we do not know, so pg_hba.conf trusts the superuser on
   * the agent's own local connection until then (as Patroni does), then the configured lines apply.
   */
  trustLocalSuperuser = false;
  /** Where the .pgpass file went, for the `postgresql.pgpass` value (or default) it was decided for (config-writer.ts). */
  pgpassLocation: { for: string; location: PgpassLocation } | undefined;

  constructor(input: SettingsInput) {
    this.name = input.name;
    this.scope = input.scope;
    this.timeouts = input.timeouts;
    const roleName = input.primaryRoleName;
    this.primaryRoleName = typeof roleName === 'function' ? roleName : () => roleName;
    this.local = input.postgresql;
    this.dynamic = input.dynamic ?? {};
    this.bootstrap = input.bootstrap ?? {};
    this.listen = parseHostPort(this.local.listen, 'postgresql.listen');
  }

  /** Replaces the given sections (a reload); a bad `listen` throws before anything changes. */
  update(next: { postgresql?: PostgresqlSection | undefined; dynamic?: DynamicPostgresql | undefined; bootstrap?: BootstrapSection | undefined }): void {
    if (next.postgresql) {
      this.listen = parseHostPort(next.postgresql.listen, 'postgresql.listen');
      this.local = next.postgresql;
    }
    if (next.dynamic) this.dynamic = next.dynamic;
    if (next.bootstrap) this.bootstrap = next.bootstrap;
  }

  get dataDir(): string {
    return this.local.data_dir;
  }

  get configDir(): string {
    return this.local.config_dir ?? this.local.data_dir;
  }

  get confPath(): string {
    return join(this.configDir, 'postgresql.conf');
  }

  /** The .pgpass file: `postgresql.pgpass`, else `<data_dir>.pgha/pgpass` (pgpass-file.ts; decided at the first write). */
  get pgpassPath(): string {
    return this.pgpassLocation?.location.path ?? this.local.pgpass ?? defaultPgpassPath(this.dataDir);
  }

  get pgCtlTimeoutMs(): number {
    return (this.local.pg_ctl_timeout ?? 60) * 1000;
  }

  binary(name: PostgresProgram): string {
    const file = (this.local.bin_name as Record<string, string | undefined> | undefined)?.[name] ?? name;
    return this.local.bin_dir && !isAbsolute(file) ? join(this.local.bin_dir, file) : file;
  }

  auth(kind: AuthRole) {
    return this.local.authentication?.[kind];
  }

  superuserName(): string {
    return this.auth('superuser')?.username ?? 'postgres';
  }

  useRewind(): boolean {
    return this.local.use_pg_rewind ?? this.dynamic.use_pg_rewind ?? false;
  }

  /** The role callbacks are given: Patroni's name for the primary, and `standby_leader` for a replica of a remote primary. */
  roleForCallbacks(role: 'primary' | 'replica', upstream: ReplicationSource | null): string {
    if (role === 'primary') return this.primaryRoleName();
    return upstream?.remote ? 'standby_leader' : 'replica';
  }

  /** `parameters`, local over dynamic. */
  mergedParameters() {
    return { ...this.dynamic.parameters, ...this.local.parameters };
  }

  socketDirectory(): string {
    const dirs = this.mergedParameters().unix_socket_directories;
    const first = dirs === undefined ? undefined : renderParameterValue(dirs).split(',')[0]?.trim();
    return first && first.length > 0 ? first : '/var/run/postgresql';
  }

  /**
   * How the agent reaches its own server: the unix socket when `use_unix_socket`, else the first
   * listen address, with the superuser's security keys (as Patroni's local connection).
   */
  localTarget(): ConnectionTarget {
    const su = this.auth('superuser');
    const host = this.local.use_unix_socket ? this.socketDirectory() : localHostFor(this.listen.hosts[0]!);
    return { host, port: this.listen.port, user: this.superuserName(), password: su?.password, database: 'postgres', ...this.security('superuser') };
  }

  /** The role whose credentials and security keys a connection to a peer uses. */
  sourceRole(kind: AuthRole): AuthRole {
    return kind === 'rewind' && !this.auth('rewind') ? 'superuser' : kind;
  }

  /** A role's security keys for the agent's own connections, and the key path errors name. */
  private security(role: AuthRole): Pick<ConnectionTarget, 'security' | 'securityKey'> {
    return { security: this.auth(role), securityKey: `postgresql.authentication.${role}` };
  }

  /**
   * The agent's own connection to a peer: replication (IDENTIFY_SYSTEM, TIMELINE_HISTORY), rewind
   * (the checkpoint wait; the rewind role, else the superuser, as Patroni's rewind_credentials) or
   * superuser (logical slot files), with that role's sslmode and certificates.
   */
  sourceTarget(source: ReplicationSource, kind: AuthRole): ConnectionTarget {
    const role = this.sourceRole(kind);
    const auth = this.auth(role);
    return {
      host: source.host,
      port: source.port,
      user: auth?.username ?? (role === 'replication' ? 'replicator' : this.superuserName()),
      password: auth?.password,
      database: 'postgres',
      replication: kind === 'replication',
      ...this.security(role),
    };
  }

  /**
   * libpq conninfo towards `source`, never with a password: that is in the .pgpass file. With
   * `service`, a `sslpassword` is left out for `service=<name>` instead (a command line is visible
   * to every local user; see service-file.ts).
   */
  sourceConninfo(source: ReplicationSource, kind: 'replication' | 'rewind', extra: Record<string, string | number | undefined> = {}, service?: string): string {
    const auth = this.auth(this.sourceRole(kind));
    const target = this.sourceTarget(source, kind);
    const ssl = sslOptions(auth);
    if (service !== undefined && ssl.sslpassword !== undefined) {
      delete ssl.sslpassword;
      ssl.service = service;
    }
    return formatConninfo({
      user: target.user,
      passfile: auth?.password !== undefined ? this.pgpassPath : undefined,
      host: source.host,
      port: source.port,
      ...(kind === 'rewind' ? { dbname: 'postgres' } : {}),
      ...ssl,
      ...extra,
    });
  }

  /** `postgresql.pg_hba`, local over dynamic; undefined leaves pg_hba.conf to initdb / bootstrap. */
  configuredHbaLines(): string[] | undefined {
    return this.local.pg_hba ?? this.dynamic.pg_hba;
  }

  /** The pg_hba.conf lines to write: the configured ones, after the trust line while a custom bootstrap needs it. */
  hbaLines(): string[] | undefined {
    const configured = this.configuredHbaLines();
    if (!this.trustLocalSuperuser || configured === undefined) return configured;
    return [this.localSuperuserTrustLine(), ...configured];
  }

  /** The pg_hba.conf line that lets the agent's own superuser connection in without a password. */
  private localSuperuserTrustLine(): string {
    const { host, user } = this.localTarget();
    const who = `all ${JSON.stringify(user)}`;
    if (host.startsWith('/')) return `local ${who} trust`;
    const mask = isIP(host) === 4 ? '/32' : isIP(host) === 6 ? '/128' : '';
    return `host ${who} ${host}${mask} trust`;
  }

  identLines(): string[] | undefined {
    return this.local.pg_ident ?? this.dynamic.pg_ident;
  }

  recoveryConf(): Record<string, string> {
    const conf = this.local.recovery_conf ?? this.dynamic.recovery_conf ?? {};
    return Object.fromEntries(Object.entries(conf).map(([k, v]) => [k, renderParameterValue(v)]));
  }

  /** What postgresql.conf says to a replica of `source`: primary_conninfo, the slot, recovery settings. */
  standbySettings(source: ReplicationSource | null): StandbySettings {
    const settings: StandbySettings = { recoveryConf: this.recoveryConf() };
    if (source && !source.noStream) {
      settings.primaryConninfo = this.sourceConninfo(source, 'replication', { application_name: this.name });
      if (source.remote) {
        if (source.remote.slotName) settings.primarySlotName = source.remote.slotName;
        settings.recoveryConf = { ...settings.recoveryConf, ...source.remote.recoveryConf };
      } else if (source.slotName) settings.primarySlotName = source.slotName;
    }
    return settings;
  }
}
