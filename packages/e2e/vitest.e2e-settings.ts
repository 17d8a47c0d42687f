import { CLUSTER_TESTS } from '../../vitest.shared.ts';

/** What the two e2e projects share (vitest.shared.ts). */
export const E2E_GROUP = CLUSTER_TESTS;

/** The e2e files written once for both stores; `e2e-zookeeper` runs them with PGHA_E2E_DCS=zookeeper. */
export const ZOOKEEPER_PARITY = [
  'test/sync.e2e.test.ts',
  'test/operations.e2e.test.ts',
  'test/operations-2.e2e.test.ts',
  'test/slots.e2e.test.ts',
  'test/standby-cluster.e2e.test.ts',
  'test/custom-methods.e2e.test.ts',
  'test/members.e2e.test.ts',
  'test/four-members.e2e.test.ts',
  'test/rewind-salvage.e2e.test.ts',
  'test/fencing.e2e.test.ts',
  'test/explain.e2e.test.ts',
  'test/dcs-fuzz.e2e.test.ts',
  'test/hosts-2.e2e.test.ts',
];
