// Unit tests run in seconds without the lab; e2e tests need `contrail-deploy lab up` (scripts/test.sh brings it up).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 1,
};
