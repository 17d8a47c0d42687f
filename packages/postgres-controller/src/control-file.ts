/**
 * Reads `global/pg_control` itself, for when no pg_controldata of the data directory's version is
 * at hand: pg_controldata reads only its own version's layout, and on another one prints wrong
 * values with exit code 0 (PostgreSQL 15's on a PostgreSQL 10 directory gives timeline 23236576).
 * The layouts are those of PostgreSQL 10 to 17 (src/include/catalog/pg_control.h), on the
 * machine's own byte order (little-endian: x86-64, arm64); every read is checked against the
 * file's CRC-32C and its floating-point format constant, so a layout we got wrong is an error,
 * never a wrong value. The result is pg_controldata's (ControlData, with its labels in `raw`).
 */
import { formatLsn } from './lsn.js';
import type { ControlData } from './control-data.js';
import { parseControlData } from './control-data.js';

/** Where the fields after the checkpoint copy begin, and which fields a version has. */
interface Layout {
  /** Offset of checkPointCopy (PostgreSQL 10 still has prevCheckPoint before it). */
  checkpointCopy: number;
  /** Offset of unloggedLSN, the first field after checkPointCopy (its size: 80 bytes before 12, 88 after nextXid became 64-bit). */
  afterCheckpoint: number;
  /** max_wal_senders is in pg_control from PostgreSQL 12. */
  hasMaxWalSenders: boolean;
}

/** pg_control_version → layout. 1300 is PostgreSQL 13 to 16. */
const LAYOUTS: Readonly<Record<number, Layout>> = {
  1002: { checkpointCopy: 48, afterCheckpoint: 128, hasMaxWalSenders: false },
  1100: { checkpointCopy: 40, afterCheckpoint: 120, hasMaxWalSenders: false },
  1201: { checkpointCopy: 40, afterCheckpoint: 128, hasMaxWalSenders: true },
  1300: { checkpointCopy: 40, afterCheckpoint: 128, hasMaxWalSenders: true },
  1700: { checkpointCopy: 40, afterCheckpoint: 128, hasMaxWalSenders: true },
};

/** pg_controldata's words for DBState (the same enum from 9.2 to 17). */
const STATES = ['starting up', 'shut down', 'shut down in recovery', 'shutting down', 'in crash recovery', 'in archive recovery', 'in production'];

/** FLOATFORMAT_VALUE, stored to detect an incompatible floating-point format: here, a misplaced read. */
const FLOAT_FORMAT = 1234567.0;

/** The pg_control_version at offset 8, the one field every version keeps in place; null when the file is too short. */
export function controlFileVersion(bytes: Uint8Array): number | null {
  if (bytes.length < 12) return null;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32LE(8);
}

/** Parses pg_control's bytes. Throws naming the problem for an unknown version, a bad CRC or a misplaced layout. */
export function parseControlFile(bytes: Uint8Array): ControlData {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = controlFileVersion(bytes);
  const layout = version === null ? undefined : LAYOUTS[version];
  if (!layout) throw new Error(`pg_control version ${version ?? '(file too short)'} is not one pgha can read (PostgreSQL 10 to 17)`);
  const a = layout.afterCheckpoint;
  // The CRC follows the mock authentication nonce at the same distance in every version.
  const crcOffset = a + 160;
  if (buf.length < crcOffset + 4) throw new Error(`pg_control is ${buf.length} bytes, too short for version ${version}`);
  const stored = buf.readUInt32LE(crcOffset);
  const computed = crc32c(buf.subarray(0, crcOffset));
  if (stored !== computed) throw new Error(`pg_control (version ${version}) fails its CRC check: being written, damaged, or not laid out as expected`);
  if (buf.readDoubleLE(a + 80) !== FLOAT_FORMAT) throw new Error(`pg_control (version ${version}) is not laid out as expected (no floating-point format constant)`);

  const lsn = (offset: number): string => formatLsn(Number(buf.readBigUInt64LE(offset)));
  const int = (offset: number): string => String(buf.readInt32LE(offset));
  const bool = (offset: number): string => (buf[offset] ? 'on' : 'off');
  const cp = layout.checkpointCopy;
  const settings = layout.hasMaxWalSenders ? a + 60 : null;
  const prepared = layout.hasMaxWalSenders ? a + 64 : a + 60;
  const lines: Record<string, string> = {
    'pg_control version number': String(version),
    'Catalog version number': String(buf.readUInt32LE(12)),
    'Database system identifier': buf.readBigUInt64LE(0).toString(),
    'Database cluster state': STATES[buf.readInt32LE(16)] ?? 'unrecognized status code',
    'Latest checkpoint location': lsn(32),
    "Latest checkpoint's REDO location": lsn(cp),
    "Latest checkpoint's TimeLineID": String(buf.readUInt32LE(cp + 8)),
    "Latest checkpoint's PrevTimeLineID": String(buf.readUInt32LE(cp + 12)),
    'Minimum recovery ending location': lsn(a + 8),
    "Min recovery ending loc's timeline": String(buf.readUInt32LE(a + 16)),
    'Backup start location': lsn(a + 24),
    'Backup end location': lsn(a + 32),
    'wal_log_hints setting': bool(a + 48),
    'max_connections setting': int(a + 52),
    'max_worker_processes setting': int(a + 56),
    ...(settings !== null ? { 'max_wal_senders setting': int(settings) } : {}),
    'max_prepared_xacts setting': int(prepared),
    'max_locks_per_xact setting': int(prepared + 4),
    'track_commit_timestamp setting': bool(prepared + 8),
    'Bytes per WAL segment': String(buf.readUInt32LE(a + 100)),
    'Data page checksum version': String(buf.readUInt32LE(a + 124)),
  };
  return parseControlData(Object.entries(lines).map(([label, value]) => `${label}: ${value}`).join('\n'));
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), PostgreSQL's pg_crc32c. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
