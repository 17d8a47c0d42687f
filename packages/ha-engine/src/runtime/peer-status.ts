/**
 * Reading a member's `GET /patroni` answer into a PeerStatus, and a PeerProbe over HTTP built on
 * an injected `fetch` (the engine opens no sockets itself; the agent passes `globalThis.fetch`
 * or one with TLS and authentication set up).
 */
import type { FailsafePayload, PeerProbe, PeerTarget } from './ports.js';
import type { FailsafeAck, PeerStatus } from '../core/snapshot.js';
import { errorMessage } from './deadline.js';

/**
 * Patroni's `_MemberStatus.from_api_response`: an answer without `wal`/`xlog` counts as
 * unreachable; `wal.location` present means a primary; a replica's position is
 * max(received_location, replayed_location).
 */
export function peerStatusFromApi(name: string, json: unknown): PeerStatus {
  if (!isObject(json)) return unreachable(name, 'the answer is not a JSON object');
  const wal = json['wal'] ?? json['xlog'];
  if (!isObject(wal)) return unreachable(name, 'the answer has no wal/xlog section');
  const location = num(wal['location']);
  const inRecovery = location === null;
  const received = num(wal['received_location']);
  const replayed = num(wal['replayed_location']);
  const position = inRecovery ? (received === null && replayed === null ? null : Math.max(received ?? 0, replayed ?? 0)) : location;
  return {
    name,
    reachable: true,
    inRecovery,
    walPosition: position,
    timeline: num(json['timeline']),
    tags: isObject(json['tags']) ? json['tags'] : {},
    watchdogFailed: json['watchdog_failed'] === true,
  };
}

export function unreachable(name: string, error: string): PeerStatus {
  return { name, reachable: false, inRecovery: true, walPosition: null, timeline: null, tags: {}, watchdogFailed: false, error };
}

/** What createHttpPeerProbe needs of `fetch`. */
export type PeerFetch = (
  url: string,
  init: { signal: AbortSignal; headers?: Record<string, string>; method?: string; body?: string },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>; text?(): Promise<string> }>;

/** `http://h:8008/patroni` → `http://h:8008/failsafe` (Patroni replaces the last path segment). */
export function failsafeUrl(apiUrl: string): string {
  const cut = apiUrl.lastIndexOf('/');
  return cut > apiUrl.indexOf('//') + 1 ? `${apiUrl.slice(0, cut)}/failsafe` : `${apiUrl}/failsafe`;
}

/**
 * Requests to peers in flight at once. The members come from the DCS, and anyone who can write
 * member keys could list hundreds whose `api_url` answers slowly with large bodies: all in
 * parallel, under the agent's 128 MiB heap, that is an out-of-memory crash. Clusters have a
 * handful of members, so 16 at a time never delays a real race; members not reached before the
 * caller's deadline count as unreachable.
 */
export const MAX_PARALLEL_PEER_REQUESTS = 16;

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * A PeerProbe doing `GET <api_url>` (and `POST /failsafe`) with `fetchImpl`, at most
 * MAX_PARALLEL_PEER_REQUESTS at a time, each bounded by the timeout.
 */
export function createHttpPeerProbe(options: { fetch: PeerFetch; headers?: Record<string, string>; maxParallel?: number }): PeerProbe {
  const limit = options.maxParallel ?? MAX_PARALLEL_PEER_REQUESTS;
  return {
    postFailsafe(targets: PeerTarget[], payload: FailsafePayload, { timeoutMs, signal }): Promise<FailsafeAck[]> {
      // One deadline for the whole round: members waiting for a free slot do not extend it. Each
      // request gets a signal of its own that follows it (listeners are added per request).
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      return mapBounded(targets, limit, async (t): Promise<FailsafeAck> => {
        const url = failsafeUrl(t.apiUrl);
        if (deadline.aborted) return { name: t.name, accepted: false, error: `POST ${url}: not asked before the deadline` };
        try {
          const response = await options.fetch(url, {
            signal: AbortSignal.any([deadline]),
            method: 'POST',
            headers: { ...(options.headers ?? {}), 'Content-Type': 'application/json' },
            body: JSON.stringify(payload),
          });
          const text = response.text ? (await response.text()).trim() : '';
          if (response.status === 200 && text === 'Accepted') return { name: t.name, accepted: true };
          return { name: t.name, accepted: false, error: `POST ${url}: ${response.status} ${text}`.trim() };
        } catch (e) {
          return { name: t.name, accepted: false, error: `POST ${url}: ${errorMessage(e)}` };
        }
      });
    },
    probe(targets: PeerTarget[], { timeoutMs, signal }) {
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      return mapBounded(targets, limit, async (t) => {
        if (deadline.aborted) return unreachable(t.name, `GET ${t.apiUrl}: not probed before the deadline`);
        try {
          const init: { signal: AbortSignal; headers?: Record<string, string> } = { signal: AbortSignal.any([deadline]) };
          if (options.headers) init.headers = options.headers;
          const response = await options.fetch(t.apiUrl, init);
          // Patroni answers /patroni with 200; some proxies answer health paths with 503 and a body.
          return peerStatusFromApi(t.name, await response.json());
        } catch (e) {
          return unreachable(t.name, `GET ${t.apiUrl}: ${errorMessage(e)}`);
        }
      });
    },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
