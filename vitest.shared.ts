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
