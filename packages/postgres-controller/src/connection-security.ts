/**
 * The agent's own SQL connections (node-postgres) with libpq's meaning of the
 * `postgresql.authentication.<role>` security keys, so a connection to a peer is as protected as
 * the pg_basebackup, pg_rewind and walreceiver connections libpq makes with the same keys.
 *
 * - `sslmode` (default `prefer`): the order of plaintext and TLS attempts and how the server
 *   certificate is checked. `require` checks the chain when a root certificate is configured or
 *   `~/.postgresql/root.crt` exists, as libpq does; `verify-ca` and `verify-full` need one.
 * - `sslrootcert` (`system`: the platform's trusted roots), `sslcrl`, `sslcrldir`, `sslcert`,
 *   `sslkey`, `sslpassword`: read at each connection, so rotated files apply without a restart;
 *   the `~/.postgresql/` defaults apply when the keys are unset. A private key readable by group
 *   or others is refused with libpq's rule.
 * - `channel_binding`: `prefer` (default) uses SCRAM-SHA-256-PLUS when the server offers it over
 *   TLS; `require` fails any connection that did not authenticate that way, before a password is
 *   sent.
 * - `gssencmode`: node-postgres has no GSSAPI encryption, so `require` fails a TCP connection
 *   (closed, not silently plaintext); `prefer` and `disable` connect as if there were no ticket.
 * - `sslnegotiation: direct` starts TLS without the SSLRequest round trip.
 *
 * Unix-socket connections never use TLS (libpq ignores `sslmode` there too).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { PostgresError, PostgresErrorCode, isPostgresError } from './errors.js';

/** The libpq security keys of one authentication block. */
export interface ConnectionSecurity {
  sslmode?: string | undefined;
  sslcert?: string | undefined;
  sslkey?: string | undefined;
  sslpassword?: string | undefined;
  sslrootcert?: string | undefined;
  sslcrl?: string | undefined;
  sslcrldir?: string | undefined;
  sslnegotiation?: string | undefined;
  gssencmode?: string | undefined;
  channel_binding?: string | undefined;
}

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];
export const CHANNEL_BINDING_MODES = ['disable', 'prefer', 'require'] as const;
export const GSSENC_MODES = ['disable', 'prefer', 'require'] as const;
export const SSL_NEGOTIATIONS = ['postgres', 'direct'] as const;

/** What to try, in order, to connect to one host. */
export interface ConnectionPlan {
  /** Each attempt is a fresh connection; the next one runs only when the previous failed. */
  attempts: Array<'plaintext' | 'tls'>;
  mode: SslMode;
  /**
   * The root certificate that checks the server's chain: the configured file, `system` for the
   * platform's roots, or libpq's default file. A missing file fails verify-ca and verify-full and
   * means no check otherwise, as in libpq.
   */
  rootCert: string;
  channelBinding: (typeof CHANNEL_BINDING_MODES)[number];
  directTls: boolean;
}

/** libpq's default files under `~/.postgresql/` (of the agent's own user). */
function defaultFile(name: string): string {
  return join(homedir(), '.postgresql', name);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, key: string): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: ${key}: "${value}" is not one of ${allowed.join(', ')}`);
}

/**
 * What to try to reach `host`, from the keys alone (no I/O). `where` names the authentication
 * block in error messages (`postgresql.authentication.replication`).
 */
export function connectionPlan(security: ConnectionSecurity | undefined, host: string, where: string): ConnectionPlan {
  const s = security ?? {};
  const mode = oneOf(s.sslmode, SSL_MODES, 'prefer', `${where}.sslmode`);
  const channelBinding = oneOf(s.channel_binding, CHANNEL_BINDING_MODES, 'prefer', `${where}.channel_binding`);
  const gss = oneOf(s.gssencmode, GSSENC_MODES, 'prefer', `${where}.gssencmode`);
  const negotiation = oneOf(s.sslnegotiation, SSL_NEGOTIATIONS, 'postgres', `${where}.sslnegotiation`);
  const socket = host.startsWith('/');
  if (gss === 'require' && !socket) {
    throw new PostgresError(
      PostgresErrorCode.Config,
      `${where}.gssencmode is require, but the agent's own SQL connections cannot use GSSAPI encryption; not connecting without it`,
      { hint: 'use TLS (sslmode: verify-full) for this role, or gssencmode: prefer' },
    );
  }
  const explicitRoot = s.sslrootcert;
  if (explicitRoot === 'system' && mode !== 'verify-full' && mode !== 'disable') {
    // libpq 16: the platform's roots vouch for any host, so only a name check makes them meaningful.
    throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: ${where}.sslrootcert is system, which needs sslmode verify-full (not ${mode})`);
  }
  // libpq checks the chain whenever a root certificate is there, whatever the mode.
  const rootCert = explicitRoot ?? defaultFile('root.crt');
  let attempts: ConnectionPlan['attempts'];
  if (socket || mode === 'disable') attempts = ['plaintext'];
  else if (mode === 'allow') attempts = ['plaintext', 'tls'];
  else if (mode === 'prefer') attempts = ['tls', 'plaintext'];
  else attempts = ['tls'];
  return { attempts, mode, rootCert, channelBinding, directTls: negotiation === 'direct' };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readConfigured(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new PostgresError(PostgresErrorCode.Config, `cannot read ${key} (${path}): ${code}`, { cause: e });
  }
}

/** libpq's rule for private key files (fe-secure-openssl.c): 0600 when ours, 0640 when root's. */
async function checkKeyPermissions(path: string, key: string): Promise<void> {
  const info = await stat(path);
  const euid = process.geteuid?.();
  const bad = (info.uid === euid && (info.mode & 0o077) !== 0) || (info.uid === 0 && (info.mode & 0o037) !== 0);
  if (bad) {
    throw new PostgresError(
      PostgresErrorCode.Config,
      `private key file ${key} (${path}) has group or world access (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}); it must be 0600 or less when owned by its user, 0640 or less when owned by root`,
    );
  }
}

/**
 * The node `tls` options of a TLS attempt, the files read now. `where` names the authentication
 * block in error messages.
 */
export async function tlsOptions(plan: ConnectionPlan, security: ConnectionSecurity | undefined, where: string): Promise<ConnectionOptions> {
  const s = security ?? {};
  const options: ConnectionOptions = { rejectUnauthorized: false };
  const mustVerify = plan.mode === 'verify-ca' || plan.mode === 'verify-full';
  if (plan.rootCert === 'system') {
    options.rejectUnauthorized = true; // node's default roots
  } else if (await exists(plan.rootCert)) {
    options.rejectUnauthorized = true;
    options.ca = await readConfigured(plan.rootCert, `${where}.sslrootcert`);
  } else if (mustVerify) {
    throw new PostgresError(PostgresErrorCode.Config, `${where}.sslmode is ${plan.mode} but the root certificate ${plan.rootCert} does not exist`, {
      hint: `set ${where}.sslrootcert to the CA file (or "system" for the platform's trusted roots), or a weaker sslmode`,
    });
  }
  // Otherwise, like libpq, require / prefer / allow without the file check nothing.
  if (options.rejectUnauthorized) {
    // verify-full keeps node's check of the name (node-postgres passes the host); otherwise the chain only.
    if (plan.mode !== 'verify-full') options.checkServerIdentity = () => undefined;
    // Revocation lists, when their files exist (libpq skips missing ones).
    const crls: string[] = [];
    const crl = s.sslcrl ?? defaultFile('root.crl');
    if (await exists(crl)) crls.push(await readConfigured(crl, `${where}.sslcrl`));
    const dir = s.sslcrldir;
    if (dir !== undefined && (await exists(dir))) {
      const names = await readdir(dir).catch((e: unknown) => {
        throw new PostgresError(PostgresErrorCode.Config, `cannot read ${where}.sslcrldir (${dir}): ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
      });
      for (const name of names.sort()) {
        const path = join(dir, name);
        if ((await stat(path)).isFile()) crls.push(await readConfigured(path, `${where}.sslcrldir`));
      }
    }
    if (crls.length > 0) options.crl = crls;
  }
  // libpq sends a client certificate only when the file exists (configured or default).
  const cert = s.sslcert ?? defaultFile('postgresql.crt');
  if (await exists(cert)) {
    const keyPath = s.sslkey ?? defaultFile('postgresql.key');
    if (!keyPath.startsWith('/') && keyPath.includes(':')) {
      throw new PostgresError(PostgresErrorCode.Config, `${where}.sslkey "${keyPath}" names an OpenSSL engine, which the agent's own connections do not support`);
    }
    options.cert = await readConfigured(cert, `${where}.sslcert`);
    try {
      await checkKeyPermissions(keyPath, `${where}.sslkey`);
    } catch (e) {
      if (isPostgresError(e)) throw e;
      throw new PostgresError(PostgresErrorCode.Config, `cannot read ${where}.sslkey (${keyPath}): ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    options.key = await readConfigured(keyPath, `${where}.sslkey`);
    if (s.sslpassword !== undefined) options.passphrase = s.sslpassword;
  }
  return options;
}
