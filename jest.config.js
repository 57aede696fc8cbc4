/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  globalSetup: '<rootDir>/test/harness/global-setup.ts',
  globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
  setupFiles: ['<rootDir>/test/harness/setup-env.ts'],
  cacheDirectory: '<rootDir>/.cache/jest',
  // Two cores: two workers, each with its own moto_server.
  maxWorkers: 2,
  // Tests assert states and the order of events, never how long something took, so this limit only stops a test
  // that hangs. It sits far above what a test needs even beside a CPU hog on every core (npm run test:stress).
  testTimeout: 300_000,
};
