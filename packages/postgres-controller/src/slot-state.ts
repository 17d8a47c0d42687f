/**
 * Logical slot copies for PostgreSQL 15 standbys. A standby cannot create a logical slot, but it
 * loads every `pg_replslot/<name>/state` file it finds at startup. So a replica can hold a copy of
 * the primary's slot: read the primary's state file (`pg_read_binary_file`, superuser), write it
 * into the replica's data directory, restart the replica. From then on the copy is moved forward
 * with `pg_replication_slot_advance` (which works in recovery, up to the replayed position).
 */
import { chown, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunAs } from './files.js';

/** A logical slot's on-disk state, as read from the primary. */
export interface SlotState {
  name: string;
  /** The raw `state` file (a ReplicationSlotOnDisk with its CRC). */
  state: Uint8Array;
  /** The WAL file holding the slot's restart position, as the primary names it. */
  restartFile: string;
}

/** Reads slot state files from a primary; the recovery check keeps a standby from answering. */
export const READ_SLOT_STATES_QUERY = `SELECT slot_name,
    pg_catalog.pg_read_binary_file('pg_replslot/' || slot_name || '/state') AS state,
    pg_catalog.pg_walfile_name(restart_lsn) AS restart_file
  FROM pg_catalog.pg_replication_slots
  WHERE slot_type = 'logical' AND NOT temporary AND slot_name = ANY($1::text[]) AND NOT pg_catalog.pg_is_in_recovery()`;

/**
 * Writes `state` as `pg_replslot/<name>/state` in `dataDir`, owned by the PostgreSQL user: into a
 * `.tmp` directory first (PostgreSQL removes those at startup), then renamed, so a crash never
 * leaves a half-written slot that startup would refuse. The file is fsynced before the rename.
 */
export async function installSlotState(dataDir: string, slot: SlotState, owner: RunAs | undefined): Promise<void> {
  // The name becomes a path: only what PostgreSQL allows in a slot name.
  if (!/^[a-z0-9_]{1,63}$/.test(slot.name)) throw new Error(`invalid replication slot name ${JSON.stringify(slot.name)}`);
  const base = join(dataDir, 'pg_replslot');
  const final = join(base, slot.name);
  const tmp = join(base, `${slot.name}.tmp`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { mode: 0o700 });
  if (owner) await chown(tmp, owner.uid, owner.gid);
  const file = join(tmp, 'state');
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(slot.state);
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (owner) await chown(file, owner.uid, owner.gid);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
}

/** The oldest WAL segment file in this server's pg_wal (works in recovery, unlike pg_walfile_name). */
export const OLDEST_WAL_FILE_QUERY = `SELECT min(name) AS oldest FROM pg_catalog.pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'`;

/**
 * True when a replica whose oldest WAL file is `oldest` still has the segment named `restartFile`
 * (and so everything after it). Segment numbers are the file name's last 16 hex digits; the
 * timeline (first 8) does not matter, the position does.
 */
export function walStillHere(restartFile: string, oldest: string | null): boolean {
  if (!oldest) return false;
  return restartFile.slice(8).toUpperCase() >= oldest.slice(8).toUpperCase();
}
