import { defineConfig } from 'vitest/config';

/**
 * Settings every package's vitest project merges in. Tests run against the packages' TypeScript
 * sources (the `@pgha/source` export condition), so a stale `dist` never hides a change.
 */
export const shared = defineConfig({
  ssr: { resolve: { conditions: ['@pgha/source'] } },
  resolve: { conditions: ['@pgha/source'] },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

/**
 * Projects whose files start whole clusters (e2e, chaos): they run after the unit and integration
 * projects, in a group of their own, with more workers than cores — such a file spends most of its
 * time waiting for ttl, loop_wait and replication, not computing, so three at once keep two cores
 * busy. Agents start from the build when it is current (tools/cluster/src/agent-build.ts).
 */
export const CLUSTER_TESTS = {
  testTimeout: 240_000,
  hookTimeout: 240_000,
  maxWorkers: 3,
  sequence: { groupOrder: 1 },
  env: { PGHA_AGENT_FROM: 'auto' },
} as const;
