// ESM Jest: NestJS 12 is ESM-only, so tests run as native ES modules through SWC.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/libs/client/dist/'],
  testMatch: ['**/*.spec.ts'],
  moduleNameMapper: {
    // The SDK from its sources, as the type-checker sees it (the "@quorumlock/source" condition).
    '^@quorumlock/client$': '<rootDir>/libs/client/src/index.ts',
    '^@quorumlock/client/nestjs$': '<rootDir>/libs/client/src/nest/index.ts',
    '^@quorumlock/client/grpc$': '<rootDir>/libs/client/src/grpc.ts',
    '^@quorumlock/client/fencing$': '<rootDir>/libs/client/src/fencing/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  testTimeout: 60000,
  // Jest defaults to cores - 1 workers: on the 2-core CI machines that is one.
  maxWorkers: 2,
  // A worker that has grown past this after a test file is replaced: module registries and
  // process-test buffers pile up across files, and the simulators at the end of a run slowed
  // fourfold in a heap of a gigabyte.
  workerIdleMemoryLimit: '700MB',
};
