// Unit tests run in seconds without the lab; e2e tests need `contrail-deploy lab up` (scripts/test.sh brings it up).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The lab's state (engine data roots) holds copies of files jest would otherwise index.
  modulePathIgnorePatterns: ['<rootDir>/.lab/'],
  watchPathIgnorePatterns: ['<rootDir>/.lab/'],
  testTimeout: 120000,
  maxWorkers: 1,
};
