/**
 * A `sslpassword` (the passphrase of a client key) must not go on a command line, which every
 * local user can read: pg_basebackup, pg_rewind and custom replica methods get it through a libpq
 * service file instead (primary_conninfo keeps it in the 0600 postgresql.conf, as Patroni).
 */
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresError, PostgresErrorCode } from './errors.js';
import { writeOwnedFile, type RunAs } from './files.js';
import type { ControllerSettings } from './settings.js';

/**
 * Runs `fn` for a command that connects with `kind`'s role. When the role has a `sslpassword`,
 * it goes in a libpq service file in a fresh 0700 temp directory (named by PGSERVICEFILE in
 * `env`, removed afterwards) and `service` names its section; else both are empty.
 */
export async function withSslPasswordService<T>(
  settings: ControllerSettings,
  runAs: RunAs | undefined,
  kind: 'replication' | 'rewind',
  fn: (service: string | undefined, env: Record<string, string>) => Promise<T>,
): Promise<T> {
  const sslpassword = settings.auth(settings.sourceRole(kind))?.sslpassword;
  if (sslpassword === undefined) return fn(undefined, {});
  if (/[\r\n]/.test(sslpassword)) {
    throw new PostgresError(PostgresErrorCode.Config, `invalid configuration: postgresql.authentication.${settings.sourceRole(kind)}.sslpassword contains a line break`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'pgha-service-'));
  try {
    if (runAs) await chown(dir, runAs.uid, runAs.gid);
    const file = join(dir, 'pg_service.conf');
    await writeOwnedFile(file, `[pgha]\nsslpassword=${sslpassword}\n`, { mode: 0o600, owner: runAs });
    return await fn('pgha', { PGSERVICEFILE: file });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
