import { defineProject, mergeConfig } from 'vitest/config';
import { CLUSTER_TESTS, shared } from '../../vitest.shared.ts';

// Chaos rounds run whole clusters: with the e2e projects, after the unit tests (vitest.shared.ts).
export default mergeConfig(shared, defineProject({ test: { name: 'chaos', ...CLUSTER_TESTS } }));
