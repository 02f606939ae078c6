// Lint rules that carry project law: the import direction of docs/design.md §4 and no cycles.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

// protocol <- {raft, statemachine, client} <- rpc <- node
const layers = [
  { target: './src/protocol', from: ['./src/raft', './src/statemachine', './src/client', './src/rpc', './src/node'] },
  { target: './src/raft', from: ['./src/statemachine', './src/client', './src/rpc', './src/node'] },
  { target: './src/statemachine', from: ['./src/raft', './src/client', './src/rpc', './src/node'] },
  { target: './src/client', from: ['./src/raft', './src/statemachine', './src/rpc', './src/node'] },
  { target: './src/rpc', from: ['./src/node'] },
  // The history checker is a leaf library used by the demo and the jepsen-like suite.
  { target: './src/checker', from: ['./src/raft', './src/statemachine', './src/client', './src/rpc', './src/node'] },
];

// The pure layers never touch I/O, clocks or timers (docs/design.md §4).
const pureForbidden = {
  paths: [
    'fs',
    'fs/promises',
    'net',
    'http',
    'http2',
    'dgram',
    'child_process',
    'timers',
    'worker_threads',
    'level',
    'classic-level',
    'pino',
    '@grpc/grpc-js',
  ]
    .flatMap((n) =>
      n.includes('/') || n.startsWith('@') || n === 'level' || n === 'classic-level' || n === 'pino'
        ? [n]
        : [n, `node:${n}`],
    )
    .map((name) => ({ name, message: 'src/raft, src/statemachine and src/protocol do no I/O (docs/design.md §4).' })),
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/jepsen-like/results/**', 'runs/**', 'bench/tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: layers }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/raft/**', 'src/statemachine/**', 'src/protocol/**'],
    rules: {
      'no-restricted-imports': ['error', pureForbidden],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Time comes from ticks or log stamps.' },
        { object: 'Math', property: 'random', message: 'Randomness comes from an injected seeded PRNG.' },
        { object: 'performance', property: 'now', message: 'Time comes from ticks or log stamps.' },
      ],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'],
    },
  },
  {
    // Small rooms (architecture issue): no source file over 600 lines, no function over 70.
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 600 }],
      'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
