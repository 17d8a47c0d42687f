/**
 * File operations on behalf of the PostgreSQL OS user. The agent may run as root (tests, some
 * deployments) while PostgreSQL runs as `postgres`: every file and directory the server must read
 * or own is chowned to that user, and private files (.pgpass, password files) are 0600.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { PostgresError, PostgresErrorCode } from './errors.js';

/** The OS user PostgreSQL runs as. */
export interface RunAs {
  uid: number;
  gid: number;
}

/**
 * Writes `content` atomically (temp file + rename), with `mode`, owned by `owner` when given. The
 * temp file is created exclusively under a random name, so a symlink planted in a shared
 * directory such as /tmp is never followed.
 */
export async function writeOwnedFile(path: string, content: string, options: { mode?: number; owner?: RunAs | undefined } = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content, { mode: options.mode ?? 0o600, flag: 'wx' });
    if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * `mkdir -p` with mode, chowning every directory it creates (and `path` itself) to `owner`, so
 * the PostgreSQL user can reach a data directory the agent created for it.
 */
export async function ensureOwnedDirectory(path: string, options: { mode?: number; owner?: RunAs | undefined } = {}): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: options.mode ?? 0o700 });
  if (!options.owner) return;
  const created: string[] = [];
  if (first !== undefined) {
    for (let p = path; p.length >= first.length; p = dirname(p)) {
      created.push(p);
      if (p === first || p === dirname(p)) break;
    }
  }
  for (const p of new Set([path, ...created])) await chown(p, options.owner.uid, options.owner.gid);
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** What a data directory holds, as far as deciding between bootstrap, clone and start goes. */
export type DataDirectoryKind =
  /** Does not exist. */
  | 'missing'
  /** Exists and is empty: bootstrap or clone into it. */
  | 'empty'
  /** Has PG_VERSION and global/pg_control: a PostgreSQL data directory. */
  | 'initialized'
  /** Has files, but not a data directory's: refuse to touch it. */
  | 'foreign';

/**
 * Checks that `path` can be the data directory of a server running as `owner` (default: the agent's
 * user) and says what it holds. Throws PG_DATA_DIR naming the path and the config key when it is
 * not a directory, not owned by that user, or not readable.
 */
export async function inspectDataDirectoryPath(path: string, owner: RunAs | undefined): Promise<DataDirectoryKind> {
  const where = `postgresql.data_dir (${path})`;
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot access data directory ${where}: ${code ?? String(e)}`, { cause: e });
  }
  if (!info.isDirectory()) {
    throw new PostgresError(PostgresErrorCode.DataDirectory, `data directory ${where} is not a directory`);
  }
  const uid = owner?.uid ?? process.getuid?.() ?? info.uid;
  if (info.uid !== uid) {
    throw new PostgresError(
      PostgresErrorCode.DataDirectory,
      `data directory ${where} is owned by uid ${info.uid}, but PostgreSQL runs as uid ${uid}`,
      { hint: `chown the directory to the PostgreSQL user, or fix postgresql.data_dir` },
    );
  }
  if ((info.mode & 0o700) !== 0o700) {
    throw new PostgresError(
      PostgresErrorCode.DataDirectory,
      `data directory ${where} is not readable, writable and searchable by its owner (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')})`,
      { hint: 'chmod 0700 the directory' },
    );
  }
  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (e) {
    throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot read data directory ${where}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  const visible = entries.filter((e) => e !== 'lost+found');
  if (visible.length === 0) return 'empty';
  if (visible.includes('PG_VERSION') && (await pathExists(join(path, 'global', 'pg_control')))) return 'initialized';
  return 'foreign';
}

/**
 * Makes `path` an empty data directory owned by `owner`, for a bootstrap or a clone (`what`, for
 * the error) to fill; refuses one that holds anything. Says whether it had to be created, so a
 * failure can remove only what it made.
 */
export async function prepareEmptyDataDirectory(path: string, owner: RunAs | undefined, what: string): Promise<'created' | 'existed'> {
  const kind = await inspectDataDirectoryPath(path, owner);
  if (kind === 'initialized' || kind === 'foreign') {
    throw new PostgresError(PostgresErrorCode.DataDirectory, `cannot ${what}: data directory postgresql.data_dir (${path}) is not empty`, {
      hint: 'remove it first (reinitialize)',
    });
  }
  await ensureOwnedDirectory(path, { mode: 0o700, owner });
  return kind === 'missing' ? 'created' : 'existed';
}

/**
 * Renames a data directory out of the way (`<dir>.failed`, or with a timestamp when that name is
 * taken) so a failed bootstrap never leaves a half-initialised directory in place. Returns the new path.
 */
export async function moveAside(path: string, suffix: string, now: Date = new Date()): Promise<string> {
  let target = `${path}.${suffix}`;
  if (await pathExists(target)) target = `${target}.${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
  await rename(path, target);
  return target;
}

/** Removes a data directory and everything in it. */
export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
