// WAL positions (`X/Y` text and bytes) are parsed and printed once, in @pgha/primitives.
export { formatLsn, parseLsn } from '@pgha/primitives';
