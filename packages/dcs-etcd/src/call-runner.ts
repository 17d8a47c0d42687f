/**
 * Runs one driver call against etcd within its deadline: one attempt per endpoint at a time,
 * rotating to the next endpoint on failure, until the call succeeds or its budget is spent.
 * The etcd3 library's own retry and circuit breaker are disabled (see `clients.ts`), so this is
 * the only retry loop, and a restarted etcd is usable as soon as it answers.
 */
import {
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  EtcdUserNotFoundError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  type Etcd3,
} from 'etcd3';
import { DcsError, isDcsError, sleep, timerDelay } from '@pgha/dcs';

/** One etcd member the driver talks to, with its own client (so rotation is deterministic). */
export interface Endpoint {
  readonly url: string;
  readonly client: Etcd3;
}

/** What one attempt gets. */
export interface Attempt {
  readonly endpoint: Endpoint;
  readonly client: Etcd3;
  /** gRPC call options carrying this attempt's deadline. Pass them to every request. */
  readonly options: { deadline: number };
  /**
   * True when an earlier attempt of the same call failed after it may have reached etcd, so a
   * write of that attempt may have been applied: the attempt reconciles by reading back.
   */
  readonly uncertain: boolean;
}

/** Raised by an attempt when etcd says our lease no longer exists. */
export class LeaseGoneError extends Error {
  readonly leaseId: string;
  constructor(leaseId: string) {
    super(`lease ${leaseId} not found`);
    this.leaseId = leaseId;
  }
}

type Failure = 'lease' | 'rejected' | 'retry';

function classify(e: unknown): Failure {
  if (e instanceof LeaseGoneError || e instanceof EtcdLeaseInvalidError) return 'lease';
  if (
    e instanceof EtcdPermissionDeniedError ||
    e instanceof EtcdAuthenticationFailedError ||
    e instanceof GRPCUnauthenticatedError ||
    e instanceof EtcdRoleNotGrantedError ||
    e instanceof EtcdUserNotFoundError ||
    e instanceof GRPCInvalidArgumentError
  ) {
    return 'rejected';
  }
  return 'retry';
}

/** Shortest attempt on one endpoint when several share a budget (Patroni uses the same floor). */
const MIN_ATTEMPT_MS = 1000;
/** Pause after every endpoint failed quickly (connection refused), so a dead cluster is not spun on. */
const ROUND_PAUSE_MS = 100;

export interface RunHooks {
  /** The call's lease was reported gone (`leaseId` or the current one); drop it so the next attempt grants anew. */
  onLeaseGone(leaseId: string | undefined): void;
  isClosed(): boolean;
}

export class CallRunner {
  /** Index of the endpoint that answered last: calls stick to it until it fails. */
  private current = 0;

  #endpoints: readonly Endpoint[];
  private readonly hooks: RunHooks;

  constructor(endpoints: readonly Endpoint[], hooks: RunHooks) {
    this.#endpoints = endpoints;
    this.hooks = hooks;
  }

  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /**
   * Puts `next` in place of the endpoints (a reload changed `etcd3.hosts`) and returns the ones
   * no longer used, for the caller to close. The next attempt of every call goes to the new
   * list, starting from the endpoint that answered last when it is still in it.
   */
  replaceEndpoints(next: readonly Endpoint[]): Endpoint[] {
    const preferredUrl = this.#endpoints[this.current]?.url;
    const dropped = this.#endpoints.filter((e) => !next.includes(e));
    this.#endpoints = next;
    this.current = Math.max(0, next.findIndex((e) => e.url === preferredUrl));
    return dropped;
  }

  /** The endpoint to try first (the last one that worked). */
  preferred(): Endpoint {
    return this.endpoints[this.current]!;
  }

  /** Moves on from a failed endpoint (unless another call already did). */
  rotateFrom(endpoint: Endpoint): void {
    if (this.endpoints[this.current] === endpoint) this.current = (this.current + 1) % this.endpoints.length;
  }

  /**
   * Runs `attempt` until it resolves, rejects with a non-retryable error, or `budgetMs` is spent.
   * Settles within `budgetMs` whatever the attempts do: a late answer is ignored.
   */
  run<T>(what: string, budgetMs: number, attempt: (a: Attempt) => Promise<T>): Promise<T> {
    if (this.hooks.isClosed()) return Promise.reject(closedError(what));
    const end = performance.now() + budgetMs;
    let expired = false;
    let lastError: unknown;
    const tried = new Set<string>();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        expired = true;
        reject(unavailable(what, budgetMs, tried, lastError ?? new Error('no answer before the deadline')));
      }, timerDelay(budgetMs));
      const loop = async (): Promise<T> => {
        let uncertain = false;
        let leaseRetries = 0;
        let failuresThisRound = 0;
        while (!expired) {
          if (this.hooks.isClosed()) throw closedError(what);
          const remaining = end - performance.now();
          if (remaining <= 0) break;
          const n = this.endpoints.length;
          const perAttempt = n === 1 ? remaining : Math.min(remaining, Math.max(MIN_ATTEMPT_MS, budgetMs / n));
          const endpoint = this.preferred();
          tried.add(endpoint.url);
          try {
            return await attempt({ endpoint, client: endpoint.client, options: { deadline: Date.now() + perAttempt }, uncertain });
          } catch (e) {
            if (isDcsError(e)) throw e;
            if (this.hooks.isClosed()) throw closedError(what);
            lastError = e;
            switch (classify(e)) {
              case 'rejected':
                throw new DcsError('DCS_REJECTED', `etcd3: ${what} refused by ${endpoint.url}: ${messageOf(e)}`, { cause: e });
              case 'lease':
                this.hooks.onLeaseGone(e instanceof LeaseGoneError ? e.leaseId : undefined);
                // A regranted lease is normally enough; more than that means something is off.
                if (++leaseRetries > 3) throw unavailable(what, budgetMs, tried, e);
                continue;
              case 'retry':
                uncertain = true;
                this.rotateFrom(endpoint);
                if (++failuresThisRound >= n) {
                  failuresThisRound = 0;
                  await sleep(Math.min(ROUND_PAUSE_MS, Math.max(0, end - performance.now())));
                }
            }
          }
        }
        throw unavailable(what, budgetMs, tried, lastError ?? new Error('no answer before the deadline'));
      };
      loop().then(
        (value) => {
          clearTimeout(timer);
          if (!expired) resolve(value);
        },
        (e: unknown) => {
          clearTimeout(timer);
          if (!expired) reject(e);
        },
      );
    });
  }
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function closedError(what: string): DcsError {
  return new DcsError('DCS_CLOSED', `etcd3: ${what}: the driver is closed`);
}

function unavailable(what: string, budgetMs: number, tried: Set<string>, cause: unknown): DcsError {
  return new DcsError(
    'DCS_UNAVAILABLE',
    `etcd3: ${what} did not succeed within ${Math.round(budgetMs)} ms (tried ${[...tried].join(', ') || 'no endpoint'}): ${messageOf(cause)}`,
    { cause, hint: 'check that the etcd members in etcd3.hosts are up and have a leader' },
  );
}
