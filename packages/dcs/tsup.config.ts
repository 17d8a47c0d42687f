import { libraryBuild } from '../../tsup.shared.ts';

export default libraryBuild({ index: 'src/index.ts', testing: 'src/testing/index.ts' });
