/**
 * Issue 15, end to end: hostile values in the DCS. One 3-member pgha cluster per store (etcd,
 * ZooKeeper); for every
 * key of the cluster (leader, members/*, config, sync, failover, status, failsafe, history,
 * initialize) write random, wrong-typed, huge (near 1 MiB) and deeply nested values with
 * etcdctl or a raw ZooKeeper session (support/raw-keys.ts), one at a time, each left for a few
 * agent cycles and then replaced by a valid value.
 *
 * Throughout: every agent process keeps running and its API answers, and the write checker
 * never sees two writable primaries. At the end the cluster has healed: one primary, the others
 * streaming from it. Values come from a fixed seed.
 *
 * Two keys are special:
 * - `leader`: a garbage name (written without a lease) is a lock held by nobody, so the primary
 *   legitimately demotes. The valid value put back is "no key": the members race again, and
 *   the cluster must heal (a primary, the others streaming) before the next write.
 * - `initialize`: a value that looks like another cluster's system ID (10+ digits) makes every
 *   agent stop by design (Patroni's "system ID mismatch"), so the fuzz writes only values that
 *   are not a system ID; the lock holder rewrites those with the real one.
 *
 * The `e2e` project runs it on etcd and `e2e-zookeeper` on ZooKeeper, in parallel (each store's
 * run is ~3 minutes of writes); PGHA_E2E_DCS=etcd,zookeeper runs both in one go by hand.
 * PGHA_E2E_ECHO=1 shows the agents' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type DcsKind, type LocalCluster, type MemberHandle } from '@pgha/local-cluster';
import { seededRandom } from '@pgha/test-servers';
import { WAIT_MS, diagnostics, waitForStreaming } from './support/cluster-checks.js';
import { openRawKeys, type RawKeys } from './support/raw-keys.js';
import { PROBE_TABLE_DDL, query, splitBrainWindows, startProber, type Prober } from '@pgha/workload';
import { api } from './support/rest.js';
import { e2eStore, e2eStores } from './support/store.js';

const SEED = 1515;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let rand = seededRandom(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

function randomText(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(pick([0x20 + int(95), 0x80 + int(0x780), 0x0a, 0x7b, 0x5b, 0x22]));
  return s;
}

/** Nested `depth` levels, with an object at the top so the codec would keep it (as `tags`, or a config key). */
function deepText(depth: number): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    const object = i === 0 || rand() < 0.5;
    open += object ? '{"tags":' : '[';
    close = (object ? '}' : ']') + close;
  }
  return `${open}1${close}`;
}

/** Hostile values for `key`: garbage text, wrong types, random fields, huge, deep. */
function hostileValues(key: string): { label: string; value: string }[] {
  const wrongTyped = pick(['[1,2,3]', '"a string"', '42', 'null', 'true', '-1', '1e999', '{}', '{"__proto__":{"x":1}}']);
  const fields = JSON.stringify({
    role: pick([5, [], 'master', 'primary', null]),
    conn_url: pick([7, 'postgres://10.255.255.1:5432/postgres', '', { a: 1 }]),
    api_url: pick([false, 'http://10.255.255.1:8008/patroni', 'not a url']),
    xlog_location: pick([-1, 1e300, '123', 2 ** 64]),
    timeline: pick([0, -5, 'x', 1.5]),
    ttl: pick(['x', -1, 1e12, [1]]),
    loop_wait: pick([0, 'soon', {}]),
    leader: pick([3, 'ghost', null]),
    sync_standby: pick([[], 'ghost', 9]),
    optime: pick(['x', -1, 2 ** 60]),
    slots: pick([[], 'x', { a: 'b' }]),
    tags: pick([{ nofailover: 'maybe' }, [], 'x']),
  });
  // Near etcd's 1.5 MiB request limit: a string field of about 1 MiB.
  const huge = JSON.stringify({ role: 'replica', pad: 'x'.repeat(1000 * 1024) });
  const values = [
    { label: 'garbage text', value: randomText(1 + int(300)) },
    { label: 'wrong type', value: wrongTyped },
    { label: 'random fields', value: fields },
    { label: 'huge', value: huge },
    { label: 'deep', value: deepText(100_000) },
  ];
  // Never another cluster's system ID (see the header): digits only would be one.
  return key === 'initialize' ? values.map((v) => (/^\d{10,}$/.test(v.value) ? { ...v, value: `x${v.value}` } : v)) : values;
}

const stores: DcsKind[] = process.env['PGHA_E2E_DCS'] ? e2eStores() : [e2eStore()];

describe.each(stores)(`DCS fuzz on %s (seed ${SEED})`, (dcs) => {
  let cluster: LocalCluster;
  let prober: Prober;
  let keys: RawKeys;

  beforeAll(async () => {
    rand = seededRandom(SEED);
    cluster = await startLocalCluster({ dcs, timing: { ttl: 10, loopWait: 1, retryTimeout: 3 }, echo: process.env['PGHA_E2E_ECHO'] === '1' });
    const primary = await cluster.waitForPrimary(WAIT_MS);
    await waitForStreaming(cluster, primary);
    await query(primary, PROBE_TABLE_DDL);
    prober = startProber(cluster.members, { intervalMs: 100 });
    keys = await openRawKeys(cluster);
  }, 240_000);

  afterAll(async () => {
    await keys?.close();
    await prober?.stop();
    await cluster?.stop();
  });

  /** The GETs that serialise DCS values (the crash path of review §1.8 item 2), and /patroni. */
  const READS = ['/patroni', '/cluster', '/config', '/history', '/failsafe'];

  /** Members whose agent process has exited, and members whose API does not answer (any status is an answer). */
  async function casualties(): Promise<string[]> {
    const out: string[] = [];
    for (const m of cluster.members) {
      const child = m.agent?.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        out.push(`${m.name}: agent exited (${child?.exitCode ?? child?.signalCode ?? 'no process'})`);
        continue;
      }
      for (const path of READS) {
        const answered = await api(m, 'GET', path, undefined, 5000).then(
          () => true,
          () => false,
        );
        if (!answered) out.push(`${m.name}: GET ${path} does not answer`);
      }
    }
    return out;
  }

    it('hostile values in every key: no agent dies, no second primary, and the cluster heals once valid values return', async () => {
      const primary = await cluster.waitForPrimary(WAIT_MS);
      const replica = cluster.members.find((m) => m !== primary) as MemberHandle;
      const names = ['leader', `members/${replica.name}`, `members/${primary.name}`, 'config', 'sync', 'failover', 'status', 'failsafe', 'history', 'initialize'];
      const problems: string[] = [];
      // Who ran as what after each write, for the failure message.
      const trace: string[] = [];
      let writes = 0;
      for (const key of names) {
        for (const { label, value } of hostileValues(key)) {
          // The valid value to put back: the current one (the leader key: none, see the header).
          const valid = key === 'leader' ? null : await keys.get(key);
          await keys.put(key, value);
          writes++;
          // A few cycles (loop_wait 1 s; the watch wakes the agents at once).
          await sleep(2500);
          for (const c of await casualties()) problems.push(`${key} = ${label}: ${c}`);
          const roles = await Promise.all(cluster.members.map(async (m) => `${m.name}:${String((await m.status())?.['role'] ?? '?')}/${String((await m.status())?.['state'] ?? '?')}`));
          trace.push(`${key} = ${label}: ${roles.join(' ')}`);
          if (valid === null) await keys.del(key);
          else await keys.put(key, valid);
          await sleep(500);
          // A forged leader makes the primary demote, a real failover: let the cluster heal before
          // the next write, so each failover is checked on its own rather than five in a row.
          if (key === 'leader') {
            try {
              await waitForStreaming(cluster, await cluster.waitForPrimary(WAIT_MS));
            } catch (e) {
              problems.push(`${key} = ${label}: did not heal: ${(e as Error).message}`);
            }
          }
        }
      }
      expect(writes).toBe(names.length * 5);
      expect(problems, diagnostics(cluster, 30)).toEqual([]);

      // Healing: one primary holding the lock, the others streaming from it, every agent alive.
      const healed = await cluster.waitForPrimary(WAIT_MS);
      await waitForStreaming(cluster, healed).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${trace.join('\n')}\n${diagnostics(cluster, 30)}`);
      });
      expect(await casualties()).toEqual([]);
      expect((await keys.get('leader'))?.trim()).toBe(healed.name);
      expect(splitBrainWindows(prober.intervals()), 'times when two members accepted writes').toEqual([]);
    }, 600_000);
});
