import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';
import { E2E_GROUP, ZOOKEEPER_PARITY } from './vitest.e2e-settings.ts';

// The store-parametrised scenarios again, on ZooKeeper (the seed's store): the files read
// PGHA_E2E_DCS through test/support/store.ts.
const config = mergeConfig(shared, defineProject({ test: { name: 'e2e-zookeeper', ...E2E_GROUP, env: { ...E2E_GROUP.env, PGHA_E2E_DCS: 'zookeeper' } } }));
// mergeConfig concatenates lists: the shared include (every test file) is replaced, not extended.
config.test!.include = [...ZOOKEEPER_PARITY];
export default config;
