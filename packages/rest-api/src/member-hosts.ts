/**
 * The addresses of host names the REST API allows: those in members' keys, for
 * `restapi.allowlist_include_members`, and those in `restapi.allowlist` (Patroni resolves them on
 * every request; here they are resolved ahead and cached). One instance per source of names.
 *
 * - `track` is called on every publish with the names wanted now (the last published cluster's,
 *   or the allowlist's), so a member that joins is looked up at once, one that leaves is
 *   forgotten, and every name is looked up again as it falls due.
 * - A name is looked up again after `refreshMs`, a failed one after `retryMs`; a failed lookup
 *   keeps the addresses found before (a DNS outage during a DCS outage must not refuse the
 *   members' failsafe pings), and is logged once until it resolves again.
 * - Each lookup has a deadline. At most `maxParallel` run at once: a lookup stuck in
 *   getaddrinfo holds one of libuv's four threads until the system resolver gives up, so its
 *   slot is freed only then, whatever the deadline told the caller.
 * - At most `maxNames` names are kept (anyone who can write member keys chooses them).
 */

export interface MemberHostsOptions {
  /** Where the names come from, for log lines (default `restapi.allowlist_include_members`). */
  setting?: string;
  /** What a name is, for log lines (default `member host`). */
  kind?: string;
  /** Addresses of a host name (node's `dns.lookup(host, { all: true })`). */
  lookup: (host: string) => Promise<string[]>;
  /** Monotonic milliseconds. */
  now(): number;
  warn(message: string): void;
  info(message: string): void;
  /** Deadline of one lookup, ms (default 2000). */
  timeoutMs?: number;
  /** Age after which a resolved name is looked up again, ms (default 60 s). */
  refreshMs?: number;
  /** Age after which a failed name is tried again, ms (default 10 s). */
  retryMs?: number;
  /** Names kept at once (default 64); the others are not resolved, and that is logged. */
  maxNames?: number;
  /** Lookups running at once (default 2). */
  maxParallel?: number;
}

export interface MemberHosts {
  /** The addresses last found for `host` (lower case); empty while unknown or unresolvable. */
  addresses(host: string): readonly string[];
  /** Changes whenever some name's addresses do (for callers caching what they built from them). */
  generation(): number;
  /**
   * Makes `hosts` the names kept, forgetting the others, and looks up those never resolved or
   * due again. Resolves once those lookups ended or passed their deadline.
   */
  track(hosts: readonly string[]): Promise<void>;
}

interface Entry {
  addresses: readonly string[];
  /** When the last lookup ended, and whether it failed. */
  checkedAt: number | null;
  failed: boolean;
  /** Settles when the lookup under way ends or passes its deadline. */
  pending: Promise<void> | null;
}

export function createMemberHosts(options: MemberHostsOptions): MemberHosts {
  const timeoutMs = options.timeoutMs ?? 2000;
  const refreshMs = options.refreshMs ?? 60_000;
  const retryMs = options.retryMs ?? 10_000;
  const maxNames = options.maxNames ?? 64;
  const maxParallel = options.maxParallel ?? 2;
  const setting = options.setting ?? 'restapi.allowlist_include_members';
  const kind = options.kind ?? 'member host';
  const entries = new Map<string, Entry>();
  let generation = 0;
  let running = 0;
  const queue: Array<() => void> = [];
  let warnedTooMany = false;

  const slot = (): Promise<() => void> =>
    new Promise((resolve) => {
      const take = () => {
        running++;
        resolve(() => {
          running--;
          queue.shift()?.();
        });
      };
      if (running < maxParallel) take();
      else queue.push(take);
    });

  const lookUp = (name: string, entry: Entry): Promise<void> => {
    let settle!: () => void;
    const done = new Promise<void>((r) => (settle = r));
    const deadline = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    deadline.unref?.();
    let finished = false;
    function finish(error: Error | null, addresses?: string[]) {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      entry.checkedAt = options.now();
      entry.pending = null;
      if (entries.get(name) !== entry) return settle();
      if (error) {
        if (!entry.failed) {
          const kept = entry.addresses.length > 0 ? `; keeping its last addresses ${entry.addresses.join(', ')}` : '; requests from it are refused until it resolves';
          options.warn(`${setting}: cannot resolve ${kind} ${name}: ${error.message}${kept}`);
        }
        entry.failed = true;
      } else {
        const found = [...new Set(addresses ?? [])].sort();
        if (entry.failed) options.info(`${setting}: ${kind} ${name} resolves again (${found.join(', ')})`);
        entry.failed = false;
        if (found.join() !== entry.addresses.join()) {
          entry.addresses = found;
          generation++;
        }
      }
      settle();
    }
    void slot().then((release) => {
      // Past its deadline before a slot was free: the answer is no longer awaited.
      if (finished) return release();
      options.lookup(name).then(
        (addresses) => finish(null, addresses),
        (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
      ).finally(release);
    });
    return done;
  };

  return {
    addresses: (host) => entries.get(host.toLowerCase())?.addresses ?? [],
    generation: () => generation,
    track(hosts) {
      const wanted = [...new Set(hosts.map((h) => h.toLowerCase()))];
      if (wanted.length > maxNames && !warnedTooMany) {
        options.warn(`${setting}: ${wanted.length} host names; only the first ${maxNames} are resolved`);
      }
      warnedTooMany = wanted.length > maxNames;
      const kept = new Set(wanted.slice(0, maxNames));
      for (const name of entries.keys()) {
        if (!kept.has(name)) {
          entries.delete(name);
          generation++;
        }
      }
      const waits: Promise<void>[] = [];
      const now = options.now();
      for (const name of kept) {
        let entry = entries.get(name);
        if (!entry) {
          entry = { addresses: [], checkedAt: null, failed: false, pending: null };
          entries.set(name, entry);
        }
        if (!entry.pending) {
          const due = entry.checkedAt === null || now - entry.checkedAt >= (entry.failed ? retryMs : refreshMs);
          if (due) entry.pending = lookUp(name, entry);
        }
        if (entry.pending) waits.push(entry.pending);
      }
      return Promise.all(waits).then(() => undefined);
    },
  };
}
