/**
 * WAL positions. PostgreSQL prints an LSN as two hex halves (`16/B374D848`); Patroni's DCS JSON
 * carries it as an integer number of bytes. Numbers stay exact up to 2^53 bytes (8 PiB of WAL),
 * far beyond any real server.
 */

const lsnPattern = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses `X/Y` (surrounding blanks allowed) into bytes; null for anything else (including SQL NULL). */
export function parseLsn(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  const m = lsnPattern.exec(text.trim());
  if (!m) return null;
  return parseInt(m[1]!, 16) * 2 ** 32 + parseInt(m[2]!, 16);
}

/** Formats bytes as PostgreSQL does (`0/3000060`). */
export function formatLsn(bytes: number): string {
  const high = Math.floor(bytes / 2 ** 32);
  const low = bytes - high * 2 ** 32;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}
