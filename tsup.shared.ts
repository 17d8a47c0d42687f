import { defineConfig, type Options } from 'tsup';

/**
 * How every `@pgha/*` library is built: ESM for Node 20 with type declarations, from the given
 * entries: a list, or output name → source where a source sits deeper than the others (its
 * output keeps the name the package's `exports` point at). Workspace dependencies stay external
 * (tsup externalizes `dependencies`), so each package ships only its own code.
 */
export function libraryBuild(entry: string[] | Record<string, string>, extra: Options = {}): ReturnType<typeof defineConfig> {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node20',
    dts: true,
    sourcemap: true,
    clean: true,
    tsconfig: 'tsconfig.build.json',
    ...extra,
  });
}
