/**
 * Where log lines go: stderr, or `<log.dir>/patroni.log` rotated as Patroni's RotatingFileHandler
 * does (at `file_size` bytes, keeping `file_num` old files `patroni.log.1` … `patroni.log.N`).
 * Rotation is rotating-file-stream's classical mode, not code of ours.
 */
import { mkdirSync } from 'node:fs';
import { createStream } from 'rotating-file-stream';

/** Patroni's defaults (log.py). */
export const DEFAULT_FILE_SIZE = 25_000_000;
export const DEFAULT_FILE_NUM = 4;

export interface FileTarget {
  dir: string;
  fileSize: number;
  fileNum: number;
  mode?: number;
}

export interface Output {
  stream: NodeJS.WritableStream;
  /** Same file and rotation: a reload keeps the open stream. */
  same(target: FileTarget | null): boolean;
  close(): Promise<void>;
}

export function stderrOutput(stream: NodeJS.WritableStream = process.stderr): Output {
  return { stream, same: (t) => t === null, close: async () => {} };
}

export function fileOutput(target: FileTarget, onError: (e: Error) => void): Output {
  mkdirSync(target.dir, { recursive: true });
  const stream = createStream('patroni.log', {
    path: target.dir,
    size: `${target.fileSize}B`,
    // rotate: 0 would keep nothing and rotate forever; Python's backupCount 0 means "never rotate".
    ...(target.fileNum > 0 ? { rotate: target.fileNum } : {}),
    ...(target.mode !== undefined ? { mode: target.mode } : {}),
  });
  // A full disk or a removed directory must not take the agent down with it.
  stream.on('error', onError);
  stream.on('warning', onError);
  return {
    stream,
    same: (t) => t !== null && t.dir === target.dir && t.fileSize === target.fileSize && t.fileNum === target.fileNum && t.mode === target.mode,
    close: () => new Promise((resolve) => stream.end(() => resolve())),
  };
}
