/**
 * Syncs through the ensemble leader: a sync both moves the hold (`session-manager.ts`) and is the
 * freshness point of a load served from the watch-fed copy (`cluster-cache.ts`). Each caller
 * sends its own: a sync sent before the caller began proves nothing about changes another client
 * completed meanwhile.
 */
import type { Answer } from './calls.js';
import { ZRC, type Request } from './protocol.js';

export interface SyncPointOptions {
  exec(request: Request, deadline: number): Promise<Answer>;
  failure(r: Answer, op: string, path: string): Error;
}

export class SyncPoint {
  /** Syncs sent over the driver's life. */
  sent = 0;
  private readonly options: SyncPointOptions;

  constructor(options: SyncPointOptions) {
    this.options = options;
  }

  /** One sync, within `deadline`. Rejects DCS_UNAVAILABLE without an answer. */
  async sync(deadline: number): Promise<void> {
    this.sent++;
    const r = await this.options.exec({ op: 'sync', path: '/' }, deadline);
    if (r.rc !== ZRC.ok) throw this.options.failure(r, 'sync', '/');
  }
}
