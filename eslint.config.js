import tseslint from 'typescript-eslint';

/**
 * A relative import through a directory of one of these names. Each layer below names
 * directories that exist only outside it, so a match is always a layer crossed.
 */
const layer = (dirs, why) => ({
  regex: `^\\.{1,2}/(.*/)?(${dirs.join('|')})/`,
  message: `${why} (ARCHITECTURE.md)`,
});

/** libs/raft/test is the engine's own tests; what others share is in libs/raft/testing. */
const RAFT_TESTS = {
  regex: '^\\.{1,2}/(.*/)?raft/test/',
  message: 'libs/raft/test is the Raft engine’s own tests (ARCHITECTURE.md)',
};

/** One rule per file: a later config's patterns replace an earlier one's, so each lists all. */
const noImports = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      '**/dist/**',
      'libs/client/proto/**',
      'node_modules/**',
      'coverage/**',
      'data/**',
      '**/out/**',
      '**/src/gen/**',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      // An async generator with nothing to await is how in-memory data becomes an AsyncIterable
      // (snapshot chunks, test streams); the rule cannot tell it from a forgotten await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // Plain JavaScript (this file, jest.config.js) is in no TypeScript project.
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  // The layers of ARCHITECTURE.md.
  {
    files: ['**/*.ts'],
    ignores: ['libs/raft/**'],
    rules: noImports(RAFT_TESTS),
  },
  {
    files: ['libs/common/**'],
    rules: noImports(
      layer(['apps', 'raft', 'client', 'testing'], 'libs/common is imported by all, imports none'),
    ),
  },
  {
    files: ['libs/testing/**'],
    rules: noImports(layer(['apps', 'raft', 'client'], 'libs/testing imports only libs/common')),
  },
  {
    files: ['libs/raft/**'],
    rules: noImports(layer(['apps', 'client'], 'the Raft engine knows nothing of its users')),
  },
  {
    files: ['libs/client/**'],
    rules: noImports(layer(['apps'], 'the SDK imports nothing from the server'), RAFT_TESTS),
  },
  {
    files: ['libs/client/src/**'],
    rules: noImports(layer(['apps', 'raft'], 'the SDK imports nothing from the server')),
  },
  {
    files: ['apps/lock-service/src/domain/**'],
    rules: noImports(
      layer(['grpc', 'http', 'gateway'], 'the domain knows no transport'),
      RAFT_TESTS,
    ),
  },
  {
    files: ['apps/lock-service/src/security/**'],
    rules: noImports(
      layer(
        ['grpc', 'http', 'gateway', 'metrics'],
        'who may call what is decided without a transport',
      ),
      RAFT_TESTS,
    ),
  },
);
