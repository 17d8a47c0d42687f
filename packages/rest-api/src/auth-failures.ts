/**
 * Failed Basic-auth attempts, per source address (#16): each is logged with the address, and a
 * source that fails `limit` times within `windowMs` is refused (429) until the window has passed,
 * so the password cannot be guessed at the API's speed. The table is bounded: the oldest source
 * is forgotten first.
 */
export interface AuthFailures {
  /** True while `address` is refused for too many failures. */
  blocked(address: string): boolean;
  /** Records a failure; returns true when this one blocks the source. */
  fail(address: string): boolean;
  /** A success forgets the source's failures. */
  succeed(address: string): void;
}

interface Entry {
  since: number;
  count: number;
}

export function createAuthFailures(options: { limit: number; windowMs: number; maxSources: number }, now: () => number): AuthFailures {
  const table = new Map<string, Entry>();
  const current = (address: string): Entry | null => {
    const e = table.get(address);
    if (!e) return null;
    if (now() - e.since >= options.windowMs) {
      table.delete(address);
      return null;
    }
    return e;
  };
  return {
    blocked: (address) => (current(address)?.count ?? 0) >= options.limit,
    fail(address) {
      const e = current(address);
      if (e) {
        e.count += 1;
        return e.count === options.limit;
      }
      if (table.size >= options.maxSources) table.delete(table.keys().next().value as string);
      table.set(address, { since: now(), count: 1 });
      return options.limit === 1;
    },
    succeed: (address) => void table.delete(address),
  };
}
