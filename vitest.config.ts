import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; files ending in `.int.test.ts` start a real etcd cluster or real
// processes; test/e2e drives the CLI. All run under `npm test`; at most two files at once because
// the integration files each run a 3-member etcd on a 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
