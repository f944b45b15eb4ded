// `pnpm test:faults`: suites that start real api, worker and emulator processes and break things
// (kill workers, flush Redis, restart Postgres). Run one at a time: they share the real servers.
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  ...base,
  roots: ['<rootDir>/tests/faults'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  maxWorkers: 1,
  testTimeout: 300_000,
};
