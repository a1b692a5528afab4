import tseslint from 'typescript-eslint';

/**
 * Forbids relative imports that pass through a directory of one of these names. Each layer
 * below names directories that exist only outside it, so a match is always a layer crossed.
 */
const noImportsFrom = (dirs, why) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { regex: `^\\.{1,2}/(.*/)?(${dirs.join('|')})/`, message: `${why} (ARCHITECTURE.md)` },
      ],
    },
  ],
});

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'data/**', '**/out/**', '**/src/gen/**'],
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
    files: ['libs/common/**'],
    rules: noImportsFrom(
      ['apps', 'raft', 'client', 'testing'],
      'libs/common is imported by all, imports none',
    ),
  },
  {
    files: ['libs/testing/**'],
    rules: noImportsFrom(['apps', 'raft', 'client'], 'libs/testing imports only libs/common'),
  },
  {
    files: ['libs/raft/**'],
    rules: noImportsFrom(['apps', 'client'], 'the Raft engine knows nothing of its users'),
  },
  {
    files: ['libs/client/**'],
    rules: noImportsFrom(['apps'], 'the SDK imports nothing from the server'),
  },
  {
    files: ['libs/client/src/**'],
    rules: noImportsFrom(['apps', 'raft'], 'the SDK imports nothing from the server'),
  },
  {
    files: ['apps/lock-service/src/domain/**'],
    rules: noImportsFrom(['grpc', 'http'], 'the domain knows no transport'),
  },
);
