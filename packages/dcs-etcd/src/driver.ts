/**
 * The etcd v3 driver, with Patroni's etcd3 semantics: one lease per agent (TTL = ttl) carrying
 * the `leader` key and our own member key; acquire = create-if-absent transaction; renew =
 * keepalive, then re-attach the leader key to our lease if it names us on an earlier lease of
 * ours; release = delete guarded by the key's name and lease; CAS on `mod_revision`.
 *
 * A key that names us but sits on a lease this driver was never granted belongs to another agent
 * started with our name (etcd deletes a lease's keys when it ends, so that lease is alive): it is
 * never renewed, released or overwritten here, as that would hand the lock to both agents in
 * turn (pgha issue 15).
 */
import type { ICompare, IDeleteRangeRequest, IKeyValue, IPutRequest, IRangeRequest, IRequestOp, IResponseHeader, ITxnRequest } from 'etcd3';
import { EtcdLeaseInvalidError } from 'etcd3';
import {
  clusterPrefix,
  DcsError,
  DcsErrorCode,
  KEY,
  memberKey,
  type CallOptions,
  type DcsDriver,
  type DcsTiming,
  type DriverReconfiguration,
  type DriverOptions,
  type Expectation,
  type Logger,
  type RawCluster,
  type RawNode,
  type SessionHold,
  type StoredKey,
  type WatchEvent,
} from '@pgha/dcs';
import { CallRunner, closedError, LeaseGoneError, messageOf, type Attempt, type Endpoint } from './call-runner.js';
import { loadConnection, parseEtcdSection, type EtcdConnection } from './config.js';
import { planEndpointChange } from './reconfigure.js';
import { createEndpointClients } from './clients.js';
import { LeaseSession, type Lease } from './session.js';
import { PrefixWatch, prefixEnd } from './watch.js';

export class EtcdDriver implements DcsDriver {
  readonly kind = 'etcd3';
  readonly prefix: string;
  private readonly name: string;
  private readonly logger: Logger;
  private timing: DcsTiming;
  private readonly runner: CallRunner;
  private readonly session: LeaseSession;
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private watcher: PrefixWatch | null = null;
  private closed = false;
  /** The last value given to touchMember: rewritten under a new lease after a regrant. */
  private memberValue: string | null = null;
  /** True when our member key may be missing or on a dead lease (after a regrant). */
  private memberStale = false;
  /** The newest store revision any answer showed: a new watch starts after it, so it misses nothing we saw. */
  private revision: bigint | null = null;

  private connection: EtcdConnection;
  /** The clients this driver created and so closes; shared ones (see `SharedEtcdClients`) are their owner's. */
  private readonly owned = new Set<Endpoint>();

  /** `shared`: clients to use instead of creating its own (several drivers in one process, see `createSharedClients`). */
  constructor(options: DriverOptions, connection: EtcdConnection, shared?: readonly Endpoint[]) {
    this.connection = connection;
    this.prefix = clusterPrefix(options.namespace, options.scope);
    this.name = options.name;
    this.logger = options.logger;
    this.timing = { ttl: options.ttl, loopWait: options.loopWait, retryTimeout: options.retryTimeout };
    const endpoints: readonly Endpoint[] = shared ?? createEndpointClients(connection, options.retryTimeout * 1000);
    if (!shared) for (const e of endpoints) this.owned.add(e);
    this.session = new LeaseSession(options.ttl, options.clock, options.logger);
    this.runner = new CallRunner(endpoints, {
      isClosed: () => this.closed,
      onLeaseGone: (leaseId) => {
        if (this.session.drop(leaseId)) this.memberStale = this.memberValue !== null;
      },
    });
  }

  // ---- reads ------------------------------------------------------------------------------

  load(options?: CallOptions): Promise<RawCluster> {
    return this.run('load', options, async (a) => {
      const [res] = await Promise.all([
        this.kv(a).range({ key: this.abs(''), range_end: prefixEnd(this.prefix) }),
        this.keepaliveInBackground(a),
      ]);
      const nodes = new Map<string, RawNode>();
      for (const kv of res.kvs) {
        const key = kv.key.toString('utf8');
        if (!key.startsWith(this.prefix)) continue;
        nodes.set(key.slice(this.prefix.length), toNode(kv));
      }
      return { nodes };
    });
  }

  // ---- leader lock ------------------------------------------------------------------------

  acquireLeader(options?: CallOptions): Promise<boolean> {
    return this.run('acquireLeader', options, async (a) => {
      const key = this.abs(KEY.leader);
      const create = (lease: Lease) =>
        withLease(
          lease,
          this.kv(a).txn({
            compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
            success: [{ request_put: { key, value: Buffer.from(this.name), lease: lease.id } }],
            failure: [{ request_range: { key } }],
          }),
        );
      // The lock is raced for right after the previous holder's key went away, so this is on the
      // failover's critical path: with a lease in place, its keepalive (which times the hold) and
      // the create go out together, one round trip instead of two. A lease that turns out to be
      // gone fails both, and the retry grants a new one.
      const current = this.session.current();
      let lease: Lease;
      let res: Awaited<ReturnType<typeof create>>;
      if (current && current.requestedTtl === this.session.ttl && !this.memberStale) {
        lease = current;
        [, res] = await Promise.all([this.session.keepalive(a, current), create(current)]);
      } else {
        lease = await this.refresh(a, true);
        res = await create(lease);
      }
      if (res.succeeded) return true;
      // An earlier attempt of this call may have created the key before its answer was lost.
      const kv = res.responses[0]?.response_range?.kvs[0];
      return a.uncertain && kv !== undefined && kv.value.toString('utf8') === this.name && kv.lease === lease.id;
    });
  }

  renewLeader(options?: CallOptions): Promise<boolean> {
    return this.run('renewLeader', options, async (a) => {
      const lease = await this.refresh(a, true);
      const key = this.abs(KEY.leader);
      const res = await this.kv(a).range({ key });
      const kv = res.kvs[0];
      if (!kv || kv.value.toString('utf8') !== this.name) return false;
      if (kv.lease === lease.id) return true;
      if (!this.ownsLeaseOf(kv)) {
        this.logger.warn({ lease: lease.id, owner: kv.lease }, 'etcd3 leader key names us but is on the lease of another agent with our name; not taking it');
        return false;
      }
      // The key names us but sits on an earlier lease of ours (a regrant): move it to ours,
      // unless it changed since we read it.
      const moved = await withLease(
        lease,
        this.kv(a).txn({ compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }], success: [this.putLeader(lease)] }),
      );
      if (moved.succeeded) this.logger.info({ lease: lease.id, previous: kv.lease }, 'etcd3 leader key re-attached to our lease');
      return moved.succeeded;
    });
  }

  releaseLeader(options?: CallOptions): Promise<boolean> {
    return this.run('releaseLeader', options, async (a) => {
      const key = this.abs(KEY.leader);
      const kv = (await this.kv(a).range({ key })).kvs[0];
      // Absent after an attempt whose answer was lost: that attempt deleted it.
      if (!kv) return a.uncertain;
      if (kv.value.toString('utf8') !== this.name || !this.ownsLeaseOf(kv)) return false;
      const res = await this.kv(a).txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
        success: [{ request_delete_range: { key } }],
        failure: [{ request_range: { key } }],
      });
      if (res.succeeded) return true;
      return a.uncertain && res.responses[0]?.response_range?.kvs.length === 0;
    });
  }

  // ---- members ----------------------------------------------------------------------------

  touchMember(value: string, options?: CallOptions): Promise<void> {
    this.memberValue = value;
    return this.run('touchMember', options, async (a) => {
      // Like Patroni, touching the member also keeps the lease alive, at most once per loop_wait.
      const lease = await this.refresh(a, false);
      await this.putOwnMember(a, lease, value);
      if (this.session.current()?.id === lease.id) this.memberStale = false;
    });
  }

  ownsSession(owner: string): boolean {
    return this.session.owns(owner);
  }

  adoptSession(owner: string): void {
    this.session.adopt(owner);
  }

  deleteMember(name: string, options?: CallOptions): Promise<boolean> {
    return this.run('deleteMember', options, async (a) => {
      const res = await this.kv(a).deleteRange({ key: this.abs(memberKey(name)) });
      return res.deleted !== '0' || a.uncertain;
    });
  }

  // ---- persistent keys --------------------------------------------------------------------

  write(key: StoredKey, value: string, expect: Expectation, options?: CallOptions): Promise<boolean> {
    return this.run(`write ${key}`, options, async (a) => {
      const k = this.abs(key);
      const put: IRequestOp = { request_put: { key: k, value: Buffer.from(value) } };
      if (expect.kind === 'any') {
        await this.kv(a).put(put.request_put!);
        return true;
      }
      const compare = this.expectation(k, expect);
      if (!compare) return false;
      const res = await this.kv(a).txn({ compare: [compare], success: [put], failure: [{ request_range: { key: k } }] });
      if (res.succeeded) return true;
      if (!a.uncertain) return false;
      // Reconcile an ambiguous earlier attempt: did our value land after the expected state?
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (!kv || kv.value.toString('utf8') !== value) return false;
      return expect.kind === 'absent' || BigInt(kv.mod_revision) > BigInt(expect.version);
    });
  }

  remove(key: StoredKey, expect: Expectation, options?: CallOptions): Promise<boolean> {
    return this.run(`remove ${key}`, options, async (a) => {
      const k = this.abs(key);
      if (expect.kind === 'any') {
        const res = await this.kv(a).deleteRange({ key: k });
        return res.deleted !== '0' || a.uncertain;
      }
      const compare = this.expectation(k, expect);
      // "Delete only if absent" can never delete anything.
      if (!compare || expect.kind === 'absent') return false;
      const res = await this.kv(a).txn({
        compare: [compare],
        success: [{ request_delete_range: { key: k } }],
        failure: [{ request_range: { key: k } }],
      });
      if (res.succeeded) return true;
      return a.uncertain && res.responses[0]?.response_range?.kvs.length === 0;
    });
  }

  deleteCluster(options?: CallOptions): Promise<void> {
    return this.run('deleteCluster', options, async (a) => {
      await this.kv(a).deleteRange({ key: this.abs(''), range_end: prefixEnd(this.prefix) });
    });
  }

  // ---- watch, session, lifecycle ------------------------------------------------------------

  watch(listener: (event: WatchEvent) => void): () => void {
    if (this.closed) return () => undefined;
    this.listeners.add(listener);
    if (!this.watcher) {
      this.watcher = new PrefixWatch({
        runner: this.runner,
        prefix: this.prefix,
        logger: this.logger,
        startAfter: () => this.revision,
        onEvent: (event) => {
          for (const l of [...this.listeners]) l(event);
        },
      });
      this.watcher.start();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.watcher) {
        this.watcher.stop();
        this.watcher = null;
      }
    };
  }

  hold(): SessionHold {
    return this.session.hold();
  }

  async setTiming(timing: DcsTiming): Promise<void> {
    if (this.closed) throw closedError('setTiming');
    const ttlChanged = timing.ttl !== this.timing.ttl;
    this.timing = { ...timing };
    if (!ttlChanged) return;
    this.session.ttl = timing.ttl;
    if (!this.session.current()) return;
    // Move to a lease of the new TTL now; if etcd cannot be reached the next call does it.
    try {
      await this.run('setTiming', undefined, (a) => this.refresh(a, false));
    } catch (e) {
      this.logger.warn({ err: messageOf(e) }, 'etcd3: could not re-time the lease yet; will retry on the next call');
    }
  }

  /** See DcsDriver.reconfigure: new `hosts` in place (the unchanged endpoints keep their clients). */
  async reconfigure(section: Record<string, unknown>): Promise<DriverReconfiguration> {
    const settings = parseEtcdSection(section);
    for (const warning of settings.warnings) this.logger.warn({ dcs: this.kind }, warning);
    const next = await loadConnection(settings);
    const change = planEndpointChange(this.connection, next);
    if (!change.endpoints) return { applied: [], restartRequired: change.restartRequired };
    const kept = new Map(this.runner.endpoints.map((e) => [e.url, e]));
    const fresh = createEndpointClients({ ...this.connection, endpoints: change.endpoints.filter((u) => !kept.has(u)) }, this.timing.retryTimeout * 1000);
    for (const f of fresh) this.owned.add(f);
    const list = change.endpoints.map((u) => kept.get(u) ?? fresh.find((f) => f.url === u)!);
    const before = this.connection.endpoints.join(',');
    // Calls and the watch on a dropped client fail over to the new list (their retry path).
    for (const gone of this.runner.replaceEndpoints(list)) this.closeOwned(gone);
    this.connection = { ...this.connection, endpoints: change.endpoints };
    return { applied: [`etcd3 endpoints: ${before} → ${change.endpoints.join(',')}`], restartRequired: change.restartRequired };
  }

  async close(options: { revoke?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    if (options.revoke && this.session.current()) {
      try {
        await this.run('close', undefined, (a) => this.session.revoke(a));
      } catch (e) {
        this.logger.warn({ err: messageOf(e) }, 'etcd3: could not revoke the lease; its keys expire after ttl');
      }
    }
    this.closed = true;
    this.session.forget();
    this.watcher?.stop();
    this.watcher = null;
    this.listeners.clear();
    for (const e of this.runner.endpoints) this.closeOwned(e);
  }

  // ---- internals --------------------------------------------------------------------------

  private closeOwned(endpoint: Endpoint): void {
    if (!this.owned.delete(endpoint)) return;
    endpoint.client.close();
  }

  /**
   * The cluster store skips unchanged member writes, so a replica's only call each cycle may be
   * `load()`; it also keeps the lease alive (at most once per loop_wait, as Patroni's
   * touch_member does), or the member key would expire. Never fails the load: a refused
   * keepalive is for the next refresh to handle.
   */
  private async keepaliveInBackground(a: Attempt): Promise<void> {
    const lease = this.session.current();
    if (!lease || lease.requestedTtl !== this.session.ttl || this.session.sinceRefresh() < this.timing.loopWait * 1000) return;
    try {
      await this.session.keepalive(a, lease);
    } catch (e) {
      if (e instanceof LeaseGoneError && this.session.drop(e.leaseId)) this.memberStale = this.memberValue !== null;
      else this.logger.debug({ err: messageOf(e) }, 'etcd3 keepalive during load failed');
    }
  }

  private run<T>(what: string, options: CallOptions | undefined, attempt: (a: Attempt) => Promise<T>): Promise<T> {
    const budget = options?.timeoutMs ?? this.timing.retryTimeout * 1000;
    return this.runner.run(what, budget, attempt);
  }

  /** The KV API for one attempt: its deadline applied, and every response's revision noted for the watch. */
  private kv(a: Attempt) {
    const kv = a.client.kv;
    const seen = <T extends { header: IResponseHeader }>(res: T): T => {
      const revision = BigInt(res.header.revision);
      if (this.revision === null || revision > this.revision) this.revision = revision;
      return res;
    };
    return {
      range: (req: IRangeRequest) => kv.range(req, a.options).then(seen),
      txn: (req: ITxnRequest) => kv.txn(req, a.options).then(seen),
      put: (req: IPutRequest) => kv.put(req, a.options).then(seen),
      deleteRange: (req: IDeleteRangeRequest) => kv.deleteRange(req, a.options).then(seen),
    };
  }

  private abs(relative: string): Buffer {
    return Buffer.from(this.prefix + relative);
  }

  /**
   * Makes sure we have a live lease of the configured TTL and returns it: grants one if there is
   * none (rewriting our member key on it), moves to a new one after a TTL change, and otherwise
   * sends a keepalive when `force` is set or the last refresh is older than loop_wait.
   */
  private async refresh(a: Attempt, force: boolean): Promise<Lease> {
    let lease = this.session.current();
    if (lease && lease.requestedTtl !== this.session.ttl) {
      await this.replaceLease(a, lease);
      lease = this.session.current();
    } else if (!lease) {
      const { lease: granted, sentAt } = await this.session.grant(a);
      // A grant answered after close() must not bring the hold back to life.
      if (this.closed) throw closedError('lease grant');
      if (!this.session.current()) this.session.install(granted, sentAt);
      lease = this.session.current();
    } else if (force || this.session.sinceRefresh() >= this.timing.loopWait * 1000) {
      await this.session.keepalive(a, lease);
    }
    if (!lease) throw new LeaseGoneError('(none)');
    if (this.memberStale && this.memberValue !== null) {
      await this.putOwnMember(a, lease, this.memberValue);
      if (this.session.current()?.id === lease.id) this.memberStale = false;
    }
    return lease;
  }

  /** TTL change: grant a lease of the new TTL and move the leader key (if ours) and member key to it. */
  private async replaceLease(a: Attempt, old: Lease): Promise<void> {
    const { lease, sentAt } = await this.session.grant(a);
    // Only a leader key that is ours and on our old lease moves; the txn keeps that check atomic.
    const key = this.abs(KEY.leader);
    await withLease(
      lease,
      this.kv(a).txn({
        compare: [this.ownsLeader(), { key, target: 'Lease', result: 'Equal', lease: old.id }],
        success: [this.putLeader(lease)],
      }),
    );
    if (this.memberValue !== null) await this.putOwnMember(a, lease, this.memberValue);
    if (this.session.current()?.id === old.id) {
      this.session.install(lease, sentAt);
      this.memberStale = false;
    }
  }

  /** Whether a key is on a lease of ours, or on none (a persistent key no live client owns). */
  private ownsLeaseOf(kv: IKeyValue): boolean {
    return !kv.lease || kv.lease === '0' || this.session.owns(kv.lease);
  }

  /**
   * Writes our member key on `lease`: in one round trip when it is already there, else created
   * if absent or moved from an earlier lease of ours, each conditional on what was read. A key of
   * our name on another client's lease is left alone (DCS_CONFLICT): another agent runs with our
   * name, and moving its key onto our lease would take its registration.
   */
  private async putOwnMember(a: Attempt, lease: Lease, value: string): Promise<void> {
    const key = this.abs(memberKey(this.name));
    const put: IRequestOp = { request_put: { key, value: Buffer.from(value), lease: lease.id } };
    let compare: ICompare = { key, target: 'Lease', result: 'Equal', lease: lease.id };
    for (let tries = 0; tries < 4; tries++) {
      const res = await withLease(lease, this.kv(a).txn({ compare: [compare], success: [put], failure: [{ request_range: { key } }] }));
      if (res.succeeded) return;
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (kv && !this.ownsLeaseOf(kv)) {
        throw new DcsError(
          DcsErrorCode.Conflict,
          `etcd3: ${this.prefix}${memberKey(this.name)} is on lease ${kv.lease} of another agent named ${this.name}; not overwritten`,
          { hint: 'two agents run with the same name: give each node its own `name`' },
        );
      }
      compare = kv
        ? kv.lease === lease.id
          ? { key, target: 'Lease', result: 'Equal', lease: lease.id }
          : { key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }
        : { key, target: 'Create', result: 'Equal', create_revision: 0 };
    }
    throw new DcsError(DcsErrorCode.Unavailable, `etcd3: ${this.prefix}${memberKey(this.name)} kept changing under us; not written`);
  }

  private ownsLeader(): ICompare {
    return { key: this.abs(KEY.leader), target: 'Value', result: 'Equal', value: Buffer.from(this.name) };
  }

  private putLeader(lease: Lease): IRequestOp {
    return { request_put: { key: this.abs(KEY.leader), value: Buffer.from(this.name), lease: lease.id } };
  }

  private expectation(key: Buffer, expect: Exclude<Expectation, { kind: 'any' }>): ICompare | null {
    if (expect.kind === 'absent') return { key, target: 'Create', result: 'Equal', create_revision: 0 };
    // Versions are mod_revisions; anything else cannot match a key.
    if (!/^[1-9]\d*$/.test(expect.version)) return null;
    return { key, target: 'Mod', result: 'Equal', mod_revision: expect.version };
  }
}

function toNode(kv: IKeyValue): RawNode {
  const node: RawNode = { value: kv.value.toString('utf8'), version: kv.mod_revision };
  if (kv.lease && kv.lease !== '0') node.owner = kv.lease;
  return node;
}

/** Maps etcd's "requested lease not found" on a request using `lease` to a LeaseGoneError for it. */
async function withLease<T>(lease: Lease, request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (e) {
    if (e instanceof EtcdLeaseInvalidError) throw new LeaseGoneError(lease.id);
    throw e;
  }
}
