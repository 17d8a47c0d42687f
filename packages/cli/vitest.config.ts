import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

export default mergeConfig(shared, defineProject({
    // The live files each run a cluster; one at a time keeps the 2-core machines responsive.
    test: { name: 'cli', fileParallelism: false },
  }));
