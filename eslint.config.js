// Lint: typescript-eslint's recommended rules plus the layering of architecture.md, enforced as
// import bans so a package cannot reach a layer above it (or another package's internals).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = {
  dcs: [],
  'dcs-etcd': ['dcs'],
  'dcs-zookeeper': ['dcs'],
  'postgres-controller': [],
  watchdog: [],
  'ha-engine': ['dcs'],
  'rest-api': ['dcs', 'ha-engine'],
  cli: ['dcs', 'ha-engine', 'dcs-etcd', 'dcs-zookeeper'],
  agent: Object.keys({
    dcs: 1, 'dcs-etcd': 1, 'dcs-zookeeper': 1, 'postgres-controller': 1, watchdog: 1, 'ha-engine': 1, 'rest-api': 1,
  }),
};
const all = Object.keys(layers);

const layering = Object.entries(layers).map(([pkg, allowed]) => ({
  files: [`packages/${pkg}/src/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        { group: ['@pgha/*/src/*', '@pgha/*/dist/*'], message: 'Import a package through its public exports.' },
        ...all.filter((p) => p !== pkg && !allowed.includes(p)).map((p) => ({
          group: [`@pgha/${p}`, `@pgha/${p}/*`],
          message: `@pgha/${pkg} may not depend on @pgha/${p} (see architecture.md, layers).`,
        })),
        ...(pkg === 'ha-engine'
          ? [{ group: ['pg', 'etcd3', 'zookeeper', 'node:fs', 'node:fs/*', 'fs', 'node:child_process', 'node:net', 'node:http'], message: 'The engine does no I/O: use a port.' }]
          : []),
      ],
    }],
  },
}));

// Tests are real: none is skipped, focused or left as a to-do, at load time or at run time. A test
// that cannot run here (not root, no server binary) fails with a message saying what it needs.
const TEST_API = '/^(describe|suite|it|test|bench)$/';
const DISABLING = '/^(skip|only|todo|skipIf|runIf)$/';
const disabledTests = {
  files: ['packages/*/test/**/*.ts', 'tools/*/test/**/*.ts', 'packages/dcs/src/testing.ts'],
  rules: {
    'no-restricted-syntax': ['error',
      {
        selector: `MemberExpression[object.name=${TEST_API}][property.name=${DISABLING}]`,
        message: 'No skipped, focused or to-do tests: a test that cannot run here must fail and say what it needs.',
      },
      {
        selector: `MemberExpression[object.type='MemberExpression'][object.object.name=${TEST_API}][property.name=${DISABLING}]`,
        message: 'No skipped, focused or to-do tests: a test that cannot run here must fail and say what it needs.',
      },
      {
        selector: `CallExpression[callee.type='MemberExpression'][callee.property.name='skip'][callee.object.name!=${TEST_API}]:not([callee.object.type='MemberExpression'][callee.object.object.name=${TEST_API}])`,
        message: 'A test must not skip itself at run time: throw an error that says what it needs.',
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  ...layering,
  disabledTests,
);
