// Lint: typescript-eslint's recommended rules plus the layering of architecture.md, enforced as
// import bans so a package cannot reach a layer above it (or another package's internals).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// `primitives` (logger, clock, error base, LSN, boolean flags) sits below every layer: all may use it.
const layers = {
  primitives: [],
  dcs: ['primitives'],
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

/** The import bans of `pkg`'s sources: public exports only, and no layer above it. */
function layerPatterns(pkg, allowed) {
  return [
    { group: ['@pgha/*/src/*', '@pgha/*/dist/*'], message: 'Import a package through its public exports.' },
    ...all.filter((p) => p !== pkg && p !== 'primitives' && !allowed.includes(p)).map((p) => ({
      group: [`@pgha/${p}`, `@pgha/${p}/*`],
      message: `@pgha/${pkg} may not depend on @pgha/${p} (see architecture.md, layers).`,
    })),
    ...(pkg === 'ha-engine'
      ? [{ group: ['pg', 'etcd3', 'zookeeper', 'node:fs', 'node:fs/*', 'fs', 'node:child_process', 'node:net', 'node:http'], message: 'The engine does no I/O: use a port.' }]
      : []),
  ];
}

const layering = Object.entries(layers).map(([pkg, allowed]) => ({
  files: [`packages/${pkg}/src/**/*.ts`],
  rules: { 'no-restricted-imports': ['error', { patterns: layerPatterns(pkg, allowed) }] },
}));

/**
 * The engine's core (decide, the rules, the facts they read) is pure: the same snapshot gives the
 * same decision, so it may not read a clock, set a timer or reach Node. Time comes in the
 * snapshot (`now`, `wallNow`); timers and calls live in `runtime/`.
 */
const noTime = 'The engine core is pure: time comes in the snapshot; timers belong in runtime/.';
const engineCore = {
  files: ['packages/ha-engine/src/core/**/*.ts'],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        ...layerPatterns('ha-engine', layers['ha-engine']),
        { group: ['node:*'], message: 'The engine core is pure: no Node modules (runtime/ does I/O).' },
        { group: ['**/runtime/*', '**/testing/*'], message: 'The engine core may not import the runtime or the test harness.' },
      ],
    }],
    'no-restricted-globals': ['error',
      ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'performance'].map((name) => ({ name, message: noTime })),
    ],
    'no-restricted-syntax': ['error',
      { selector: "NewExpression[callee.name='Date']", message: noTime },
      { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: noTime },
    ],
  },
};

// Tests are real: none is skipped, focused or left as a to-do, at load time or at run time. A test
// that cannot run here (not root, no server binary) fails with a message saying what it needs.
const TEST_API = '/^(describe|suite|it|test|bench)$/';
const DISABLING = '/^(skip|only|todo|skipIf|runIf)$/';
const disabledTests = {
  files: ['packages/*/test/**/*.ts', 'tools/*/test/**/*.ts', 'packages/dcs/src/testing/**/*.ts'],
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
  engineCore,
  disabledTests,
);
