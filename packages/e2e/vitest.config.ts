import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

// Each scenario drives a whole cluster through a failure and waits for it to heal.
export default mergeConfig(shared, defineProject({ test: { name: 'e2e', testTimeout: 240_000, hookTimeout: 240_000 } }));
