/**
 * Where the .pgpass file lives, and writing it so another local user can neither stop PostgreSQL
 * from starting nor redirect the write.
 *
 * - Default: `<data_dir>.pgha/pgpass`, in a 0700 directory owned by the PostgreSQL user beside the
 *   data directory (not inside it: pg_basebackup would copy it, pg_rewind could remove it, initdb
 *   needs an empty directory). It is used only when no other user can change the entries of the
 *   directories above it; otherwise, or when it cannot be created, a fresh 0700 directory with an
 *   unpredictable name under the temp directory is used for this run, with a warning.
 * - `postgresql.pgpass` wins. Its directory is checked the same way and a warning says what
 *   another user could do there. A file at that path that another user created is replaced when
 *   the directory allows it (the rename replaces a symlink, it never follows one), and refused with
 *   a message naming its owner when it does not (a sticky directory such as /tmp).
 *
 * Every write goes to a temp file created exclusively in the same directory, then renamed.
 */
import { chmod, chown, lstat, mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PostgresError, PostgresErrorCode } from './errors.js';
import { ensureOwnedDirectory, writeOwnedFile, type RunAs } from './files.js';

const S_ISVTX = 0o1000;

/** The default .pgpass path for a data directory. */
export function defaultPgpassPath(dataDir: string): string {
  return join(`${dataDir.replace(/\/+$/, '')}.pgha`, 'pgpass');
}

/** The users allowed to own a directory on the way to the .pgpass file: root, PostgreSQL's, the agent's. */
function trustedOwners(owner: RunAs | undefined): Set<number> {
  const uids = new Set<number>([0]);
  const own = process.geteuid?.();
  if (own !== undefined) uids.add(own);
  if (owner) uids.add(owner.uid);
  return uids;
}

/**
 * Why a directory's entries could be changed by another local user, or null when they cannot: the
 * directory and every one above it must be owned by a trusted user and writable by no one else,
 * except that a sticky directory (/tmp) may be world-writable above the last one, since others
 * cannot rename or remove what they do not own there. `leafShared` tells whether the directory
 * itself is such a shared sticky directory (others can create files in it).
 */
export async function directoryRisk(dir: string, owner: RunAs | undefined): Promise<{ risk: string | null; leafShared: boolean }> {
  const trusted = trustedOwners(owner);
  let path = await realpath(dir);
  let leaf = true;
  let leafShared = false;
  while (true) {
    const info = await stat(path);
    if (!trusted.has(info.uid)) return { risk: `${path} is owned by uid ${info.uid}, who can change what is in it`, leafShared };
    const othersWrite = (info.mode & 0o022) !== 0;
    if (othersWrite && (info.mode & S_ISVTX) === 0) {
      return { risk: `${path} is writable by ${(info.mode & 0o002) !== 0 ? 'every local user' : 'its group'}, who can replace what is in it`, leafShared };
    }
    if (othersWrite && leaf) leafShared = true;
    const parent = dirname(path);
    if (parent === path) return { risk: leafShared ? `${dir} is a shared directory where anyone can create a file first` : null, leafShared };
    path = parent;
    leaf = false;
  }
}

/** What the controller keeps about where the file went. */
export interface PgpassLocation {
  path: string;
  /** The temp directory used for this run, removed on close. */
  temporary: boolean;
}

interface Warn {
  warn(obj: object, msg: string): void;
}

/** Creates `dir` (and missing parents, 0700, owned by `owner`) unless it exists; an existing one is left as it is. */
async function createMissingDirectory(dir: string, owner: RunAs | undefined): Promise<void> {
  const exists = await lstat(dir).then(
    () => true,
    () => false,
  );
  if (!exists) await ensureOwnedDirectory(dir, { mode: 0o700, owner });
}

/** Prepares the private directory of the default path; null when it is usable, else why not. */
async function privateDirectory(dir: string, owner: RunAs | undefined): Promise<string | null> {
  const uid = owner?.uid ?? process.geteuid?.();
  const parent = dirname(dir);
  try {
    await createMissingDirectory(parent, owner);
  } catch (e) {
    return `cannot create ${parent}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
  const { risk } = await directoryRisk(parent, owner);
  if (risk !== null) return risk;
  try {
    await mkdir(dir, { mode: 0o700 });
    if (owner) await chown(dir, owner.uid, owner.gid);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') return `cannot create ${dir}: ${code ?? String(e)}`;
  }
  const info = await lstat(dir);
  if (!info.isDirectory()) return `${dir} exists and is not a directory`;
  if (info.uid !== uid) return `${dir} exists and is owned by uid ${info.uid}, not the PostgreSQL user (uid ${uid})`;
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
  return null;
}

/**
 * Decides where the .pgpass file goes for this run (see the file comment). `configured` is
 * `postgresql.pgpass`. Warns through `logger` when the place is weaker than the default would be.
 */
export async function locatePgpass(options: { configured: string | undefined; dataDir: string; owner: RunAs | undefined; scope: string; name: string; logger: Warn }): Promise<PgpassLocation> {
  const { configured, owner, logger } = options;
  if (configured !== undefined) {
    const dir = dirname(configured);
    await createMissingDirectory(dir, owner).catch((e: unknown) => {
      throw new PostgresError(PostgresErrorCode.Config, `postgresql.pgpass (${configured}): cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    });
    const { risk } = await directoryRisk(dir, owner);
    if (risk !== null) {
      logger.warn(
        { pgpass: configured },
        `SECURITY: postgresql.pgpass (${configured}) is not private: ${risk}, so another local user can keep PostgreSQL from starting. Leave postgresql.pgpass unset (pgha then uses ${defaultPgpassPath(options.dataDir)}) or point it into a directory only the PostgreSQL user can write`,
      );
    }
    return { path: configured, temporary: false };
  }
  const preferred = defaultPgpassPath(options.dataDir);
  const why = await privateDirectory(dirname(preferred), owner);
  if (why === null) return { path: preferred, temporary: false };
  const dir = await mkdtemp(join(tmpdir(), `pgha-pgpass-${`${options.scope}.${options.name}`.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
  if (owner) await chown(dir, owner.uid, owner.gid);
  const path = join(dir, 'pgpass');
  logger.warn(
    { pgpass: path },
    `the default .pgpass place ${preferred} cannot be used (${why}); using ${path} for this run. Set postgresql.pgpass to a path in a directory only the PostgreSQL user can write`,
  );
  return { path, temporary: true };
}

/**
 * Writes the file at `location` (0600, owned by `owner`): a temp file created exclusively beside
 * it, then renamed over whatever is there. When the rename is refused (another user's file in a
 * sticky directory), throws PG_CONFIG naming that file's owner.
 */
export async function writePgpassFile(location: PgpassLocation, content: string, owner: RunAs | undefined, configured: boolean): Promise<void> {
  try {
    await writeOwnedFile(location.path, content, { mode: 0o600, owner });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const existing = await lstat(location.path).catch(() => null);
    const what = existing
      ? `${existing.isSymbolicLink() ? 'a symlink' : existing.isDirectory() ? 'a directory' : 'a file'} owned by uid ${existing.uid} is in the way`
      : `${code ?? String(e)}`;
    const key = configured ? 'postgresql.pgpass' : 'the .pgpass file';
    throw new PostgresError(PostgresErrorCode.Config, `cannot write ${key} (${location.path}): ${what} (${code ?? 'error'})`, {
      cause: e,
      hint: configured ? `remove ${location.path}, or leave postgresql.pgpass unset for a private default` : `remove ${location.path}`,
    });
  }
}

/** Removes a temporary location's directory (on close). */
export async function removePgpassLocation(location: PgpassLocation): Promise<void> {
  if (location.temporary && basename(dirname(location.path)).startsWith('pgha-pgpass-')) await rm(dirname(location.path), { recursive: true, force: true });
}
