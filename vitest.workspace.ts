import { defineConfig } from 'vitest/config';

// vitest 4 dropped workspace files; this root config lists the projects instead. Each package has
// its own vitest.config.ts that merges vitest.shared.ts (projects do not inherit this file).
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'packages/e2e/vitest.zookeeper.config.ts', 'tools/*/vitest.config.ts'],
    // Integration tests start real etcd, ZooKeeper and PostgreSQL servers; two cores, so keep
    // parallelism modest to avoid starving their timers.
    maxWorkers: 2,
  },
});
