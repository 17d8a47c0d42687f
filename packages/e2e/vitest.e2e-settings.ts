/**
 * What the two e2e projects share. They run after the unit and integration projects (a group of
 * their own) with more workers than cores: an e2e file spends most of its time waiting for ttl,
 * loop_wait and replication, not computing, so three clusters at once keep two cores busy.
 */
export const E2E_GROUP = {
  testTimeout: 240_000,
  hookTimeout: 240_000,
  maxWorkers: 3,
  sequence: { groupOrder: 1 },
  // Agents start from the build when it is current (tools/cluster/src/agent-build.ts).
  env: { PGHA_AGENT_FROM: 'auto' },
} as const;

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
];
