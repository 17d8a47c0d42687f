import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';
import { E2E_GROUP } from './vitest.e2e-settings.ts';

// Each scenario drives a whole cluster through a failure and waits for it to heal: every file on
// its default store (etcd unless the file names another).
export default mergeConfig(shared, defineProject({ test: { name: 'e2e', ...E2E_GROUP } }));
