import { cpSync } from 'node:fs';
import { libraryBuild } from '../../tsup.shared.ts';

// The dashboard's page (HTML, CSS, the browser script) is not bundled: it is served as files,
// from dist/dashboard/static once built (dashboard/server.ts looks there).
export default libraryBuild(['src/index.ts', 'src/bin.ts'], {
  onSuccess: async () => {
    cpSync('src/dashboard/static', 'dist/dashboard/static', { recursive: true });
  },
});
