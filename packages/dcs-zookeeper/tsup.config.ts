import { libraryBuild } from '../../tsup.shared.ts';

// The session process is forked by path (`session-client.ts`), so it is built as its own entry next to index.js.
export default libraryBuild(['src/index.ts', 'src/session-process.ts']);
