/**
 * Loads the agent's module graph with Node's fetch globals (`Response`, `Request`, `Headers`,
 * `fetch`) hidden, and puts them back afterwards.
 *
 * Why: on Node 20 those globals are lazy getters that load undici, Node's whole fetch stack, on
 * first touch. `pg` touches `globalThis.Response` while it loads (a Cloudflare Workers sniff in
 * pg/lib/stream.js), which costs the agent about 6 MB of resident memory for a client it never
 * uses (peer probes go through node:http), and fails outright under V8's `--lite-mode`, where
 * undici cannot get the WebAssembly it needs. Hidden, the sniff sees no `Response` and pg picks its
 * Node streams, as it would anyway. The getters are restored untouched, so anything that uses
 * fetch later still gets it, loaded then.
 */
const FETCH_GLOBALS = ['Response', 'Request', 'Headers', 'fetch'] as const;

export async function importWithoutFetchGlobals<T>(load: () => Promise<T>): Promise<T> {
  const saved = new Map<string, PropertyDescriptor>();
  for (const name of FETCH_GLOBALS) {
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
    // Only a configurable property can be put back exactly; leave anything else alone.
    if (!descriptor?.configurable) continue;
    saved.set(name, descriptor);
    Object.defineProperty(globalThis, name, { value: undefined, configurable: true, writable: true, enumerable: false });
  }
  try {
    return await load();
  } finally {
    for (const [name, descriptor] of saved) Object.defineProperty(globalThis, name, descriptor);
  }
}
