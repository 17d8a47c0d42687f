/**
 * A prefix watch used only to wake the HA loop. It runs over its own gRPC stream (not the etcd3
 * library's shared watch manager) so the driver chooses the member, resumes after a reconnect
 * from the last revision it saw, and can always tear the stream down on close.
 */
import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import type { Logger, WatchEvent } from '@pgha/dcs';
import type { CallRunner } from './call-runner.js';
import { messageOf } from './call-runner.js';

const INITIAL_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 2000;
/** How long the stream may take to confirm the watch before it is treated as failed. */
const CREATE_TIMEOUT_MS = 5000;

export interface PrefixWatchOptions {
  runner: CallRunner;
  /** Absolute prefix, e.g. `/service/batman/`. */
  prefix: string;
  logger: Logger;
  /**
   * The newest revision the driver has seen, if any: the watch starts right after it, so a
   * change made after the driver's last answer is reported even if it lands before the watch is
   * set up.
   */
  startAfter(): bigint | null;
  onEvent(event: WatchEvent): void;
}

export class PrefixWatch {
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private createTimer: NodeJS.Timeout | null = null;
  private backoffMs = INITIAL_BACKOFF_MS;
  /** Revision of the last response seen; the watch resumes after it. */
  private revision: bigint | null = null;
  /** Set after a failure: the first confirmed watch afterwards sends one wake-up. */
  private wakeOnConnect = false;
  /** Counts streams so callbacks of a replaced stream are ignored. */
  private generation = 0;

  private readonly options: PrefixWatchOptions;

  constructor(options: PrefixWatchOptions) {
    this.options = options;
  }

  start(): void {
    this.stopped = false;
    this.revision = this.options.startAfter();
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.createTimer) clearTimeout(this.createTimer);
    this.retryTimer = this.createTimer = null;
    this.cancelStream();
  }

  private cancelStream(): void {
    const stream = this.stream;
    this.stream = null;
    if (!stream) return;
    try {
      stream.cancel();
    } catch {
      // Already closed: nothing to release.
    }
  }

  private open(): void {
    if (this.stopped) return;
    const generation = ++this.generation;
    const { runner, prefix } = this.options;
    const endpoint = runner.preferred();
    const current = () => generation === this.generation && !this.stopped;
    const fail = (why: string) => {
      if (!current()) return;
      this.options.logger.debug({ endpoint: endpoint.url, reason: why }, 'etcd3 watch interrupted, re-creating it');
      runner.rotateFrom(endpoint);
      this.retry();
    };
    this.createTimer = setTimeout(() => fail('no confirmation from etcd'), CREATE_TIMEOUT_MS);
    endpoint.client.watchClient.watch().then(
      (stream) => {
        if (!current()) {
          stream.on('error', () => undefined);
          stream.cancel();
          return;
        }
        this.stream = stream;
        stream.on('error', (e) => fail(messageOf(e)));
        stream.on('end', () => fail('stream ended'));
        stream.on('data', (res) => {
          if (current()) this.handle(res, fail);
        });
        const start = this.revision === null ? {} : { start_revision: (this.revision + 1n).toString() };
        stream.write({ create_request: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), ...start } });
      },
      (e: unknown) => fail(messageOf(e)),
    );
  }

  private handle(res: IWatchResponse, fail: (why: string) => void): void {
    if (res.header?.revision) this.revision = BigInt(res.header.revision);
    if (res.canceled) {
      // Compaction (our resume revision is gone) or permission: start over from now, and wake
      // the listener since events may have been missed.
      if (res.compact_revision && res.compact_revision !== '0') this.revision = null;
      else this.options.logger.warn({ reason: res.cancel_reason }, 'etcd3 watch canceled by etcd, re-creating it');
      fail(`canceled by etcd: ${res.cancel_reason || `compacted at ${res.compact_revision}`}`);
      return;
    }
    if (res.created) {
      if (this.createTimer) clearTimeout(this.createTimer);
      this.createTimer = null;
      this.backoffMs = INITIAL_BACKOFF_MS;
      if (this.wakeOnConnect) {
        this.wakeOnConnect = false;
        this.emit('leader');
      }
    }
    for (const ev of res.events ?? []) {
      const key = ev.kv.key.toString('utf8');
      // A key at version 1 was just created (a delete event carries version 0, and a delete
      // resets the count, so a key put again after one is created again).
      const created = String(ev.kv.version) === '1';
      if (key.startsWith(this.options.prefix)) this.emit(key.slice(this.options.prefix.length), created);
    }
  }

  private emit(key: string, created = false): void {
    try {
      this.options.onEvent({ key, ...(created ? { created: true } : {}) });
    } catch (e) {
      this.options.logger.warn({ err: messageOf(e) }, 'etcd3 watch listener threw');
    }
  }

  private retry(): void {
    if (this.createTimer) clearTimeout(this.createTimer);
    this.createTimer = null;
    this.generation++;
    this.cancelStream();
    this.wakeOnConnect = true;
    if (this.retryTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }
}

/** The etcd range end that covers every key starting with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
