/**
 * `pnpm --filter @pgha/package run build-packages [--out DIR] [--rebuild] [--npm-only]`: builds
 * the npm tarballs and the Debian package (default DIR: dist/packages at the repository's root).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPackages, REPO_ROOT } from './build.js';

const USAGE = 'usage: build-packages [--out DIR] [--rebuild] [--npm-only]';

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { out: { type: 'string' }, rebuild: { type: 'boolean' }, 'npm-only': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    console.error(`build-packages: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  // pnpm runs scripts in the package's directory; a relative --out means the caller's, which
  // pnpm leaves in PWD (npm in INIT_CWD).
  const cwd = process.env['INIT_CWD'] ?? process.env['PWD'] ?? process.cwd();
  const outDir = values.out ? resolve(cwd, values.out) : resolve(REPO_ROOT, 'dist/packages');
  const started = process.hrtime.bigint();
  const built = await buildPackages({ outDir, rebuild: values.rebuild ?? false, npmOnly: values['npm-only'] ?? false });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (built.compiled.length > 0) console.log(`compiled ${built.compiled.join(', ')}`);
  for (const file of [...built.tarballs, ...(built.deb ? [built.deb.path] : [])]) {
    console.log(`${file}  ${((await stat(file)).size / 1024).toFixed(0)} KiB`);
  }
  if (built.deb) console.log(`pgha ${built.deb.version} (${built.deb.architecture}): ${(built.deb.installedKiB / 1024).toFixed(1)} MiB installed`);
  console.log(`built in ${seconds.toFixed(1)} s`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`build-packages: ${(e as Error).message}`);
    process.exit(1);
  },
);
