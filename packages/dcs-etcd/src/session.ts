/**
 * The agent's etcd lease: granted with TTL = ttl, refreshed by one keepalive round trip at a
 * time (never by a background stream: the lease is only as alive as the HA loop that refreshes
 * it), and timed on the driver's monotonic clock from the *send* time of the last successful
 * grant or keepalive. The etcd3 `Lease` class is not used: it drops per-call deadlines and
 * reports a lost lease only after 2 × TTL.
 */
import type { ILeaseKeepAliveResponse } from 'etcd3';
import { castGrpcError } from 'etcd3';
import type { Logger, MonotonicClock, SessionHold } from '@pgha/dcs';
import { LeaseGoneError, type Attempt } from './call-runner.js';

export interface Lease {
  readonly id: string;
  /** The TTL we asked for, in seconds. */
  readonly requestedTtl: number;
  /** The TTL etcd granted (it may round small values up), in seconds. */
  readonly grantedTtl: number;
}

/** Leases remembered as ours: a key can only be on one of the last few (see `owns`). */
const MAX_REMEMBERED_LEASES = 16;

export class LeaseSession {
  private lease: Lease | null = null;
  private validUntil: number | null = null;
  /** Monotonic ms of the send time of the last successful grant or keepalive. */
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private granting: Promise<{ lease: Lease; sentAt: number }> | null = null;
  /**
   * Every lease granted to this session object, newest last (bounded: only recent ones can still
   * carry a key of ours). A key on any other lease belongs to another client.
   */
  private readonly granted: string[] = [];

  /** The TTL to request, in seconds. */
  ttl: number;
  private readonly clock: MonotonicClock;
  private readonly logger: Logger;

  constructor(ttl: number, clock: MonotonicClock, logger: Logger) {
    this.ttl = ttl;
    this.clock = clock;
    this.logger = logger;
  }

  current(): Lease | null {
    return this.lease;
  }

  /** Whether lease `id` was granted to us (the current lease or an earlier one). */
  owns(id: string): boolean {
    return this.granted.includes(id);
  }

  /** Counts lease `id` as an earlier one of ours (DcsDriver.adoptSession). */
  adopt(id: string): void {
    if (this.granted.includes(id)) return;
    this.granted.unshift(id);
    if (this.granted.length > MAX_REMEMBERED_LEASES) this.granted.pop();
  }

  /** Milliseconds since the last successful refresh (Infinity if none). */
  sinceRefresh(): number {
    return this.clock.now() - this.lastRefresh;
  }

  hold(): SessionHold {
    return { validUntil: this.validUntil, ttl: this.lease?.grantedTtl ?? this.ttl };
  }

  /**
   * Grants a new lease (without installing it). Concurrent callers share one grant. A grant whose
   * answer comes after the caller gave up still resolves here; an unused lease expires by itself.
   */
  grant(a: Attempt): Promise<{ lease: Lease; sentAt: number }> {
    if (this.granting) return this.granting;
    const ttl = this.ttl;
    const sentAt = this.clock.now();
    const pending = a.client.leaseClient.leaseGrant({ TTL: ttl }, a.options).then((res) => {
      if (res.error) throw new Error(`lease grant refused: ${res.error}`);
      this.granted.push(res.ID);
      if (this.granted.length > MAX_REMEMBERED_LEASES) this.granted.shift();
      // Timed from this request's send time, which every caller sharing it reuses.
      return { lease: { id: res.ID, requestedTtl: ttl, grantedTtl: Number(res.TTL) }, sentAt };
    });
    this.granting = pending;
    const clear = () => {
      if (this.granting === pending) this.granting = null;
    };
    pending.then(clear, clear);
    return pending;
  }

  /** Makes `lease` the current lease, alive (at least) until `sentAt + TTL`. */
  install(lease: Lease, sentAt: number): void {
    const previous = this.lease;
    this.lease = lease;
    this.validUntil = sentAt + lease.grantedTtl * 1000;
    this.lastRefresh = sentAt;
    this.logger.info(
      { lease: lease.id, ttl: lease.grantedTtl, previous: previous?.id ?? null },
      previous ? 'etcd3 lease replaced' : 'etcd3 lease granted',
    );
  }

  /**
   * One keepalive round trip for the current lease. Moves `validUntil` to send time + TTL.
   * Throws `LeaseGoneError` when etcd answers TTL 0 (the lease expired or was revoked).
   */
  async keepalive(a: Attempt, lease: Lease): Promise<void> {
    const sentAt = this.clock.now();
    const res = await keepaliveOnce(a, lease.id);
    const ttl = Number(res.TTL);
    if (!(ttl > 0)) throw new LeaseGoneError(lease.id);
    if (this.lease?.id !== lease.id) return;
    this.lastRefresh = Math.max(this.lastRefresh, sentAt);
    this.validUntil = Math.max(this.validUntil ?? Number.NEGATIVE_INFINITY, sentAt + ttl * 1000);
  }

  /** Forgets the lease (etcd reported it gone). True if it was the current one. */
  drop(leaseId: string | undefined): boolean {
    if (!this.lease || (leaseId !== undefined && leaseId !== this.lease.id)) return false;
    this.logger.warn({ lease: this.lease.id }, 'etcd3 lease is gone; a new one will be granted');
    this.lease = null;
    this.validUntil = null;
    this.lastRefresh = Number.NEGATIVE_INFINITY;
    return true;
  }

  /** Forgets the lease without telling etcd (driver closed): the hold is over as far as we know. */
  forget(): void {
    this.lease = null;
    this.validUntil = null;
  }

  /** Revokes the current lease (best effort is the caller's business) and forgets it. */
  async revoke(a: Attempt): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    try {
      await a.client.leaseClient.leaseRevoke({ ID: lease.id }, a.options);
    } catch (e) {
      // Already gone is what we wanted.
      if (!(castGrpcError(e as Error).message.includes('lease not found'))) throw e;
    }
    this.lease = null;
    this.validUntil = null;
  }
}

/** Sends one keepalive on a short-lived stream bounded by the attempt's deadline. */
async function keepaliveOnce(a: Attempt, id: string): Promise<ILeaseKeepAliveResponse> {
  const stream = await a.client.leaseClient.leaseKeepAlive({ deadline: a.options.deadline });
  return new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      fn();
    };
    stream.on('data', (res) =>
      finish(() => {
        resolve(res);
        stream.end();
      }),
    );
    stream.on('error', (e) => finish(() => reject(castGrpcError(e))));
    stream.on('end', () => finish(() => reject(new Error('keepalive stream closed without an answer'))));
    stream.write({ ID: id });
  });
}
