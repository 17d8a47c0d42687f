import { defineConfig } from 'tsup';

export default defineConfig({
  // The session process is forked by path (`session.ts`), so it is built as its own entry next to index.js.
  entry: ['src/index.ts', 'src/session-process.ts'],
  format: ['esm'],
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
});
