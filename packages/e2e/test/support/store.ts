/**
 * Which store an e2e file runs on. Scenarios written once run on both: the `e2e` project runs
 * each file on its default store (etcd unless the file says otherwise) and the `e2e-zookeeper`
 * project runs the store-parametrised files again with PGHA_E2E_DCS=zookeeper
 * (packages/e2e/vitest.zookeeper.config.ts). By hand, PGHA_E2E_DCS=etcd|zookeeper picks the store.
 */
import type { DcsKind } from '@pgha/local-cluster';

const STORES: readonly DcsKind[] = ['etcd', 'zookeeper'];

/** The store of a single-store file: PGHA_E2E_DCS when it names exactly one store, else `fallback`. */
export function e2eStore(fallback: DcsKind = 'etcd'): DcsKind {
  const named = process.env['PGHA_E2E_DCS'];
  return named !== undefined && (STORES as readonly string[]).includes(named) ? (named as DcsKind) : fallback;
}

/** The stores of a file that runs on several in one go: PGHA_E2E_DCS (comma-separated), else both. */
export function e2eStores(): DcsKind[] {
  const named = process.env['PGHA_E2E_DCS']?.split(',').filter(Boolean);
  if (!named || named.length === 0) return [...STORES];
  const unknown = named.filter((s) => !(STORES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`PGHA_E2E_DCS names unknown store(s) ${unknown.join(', ')}; use etcd and/or zookeeper`);
  return named as DcsKind[];
}
