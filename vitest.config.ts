import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; files ending in `.int.test.ts` start a real etcd cluster or real
// processes. They run first, at most two files at once (each integration file runs a 3-member
// etcd on a 2-core machine). The fault-injection, multi-host and end-to-end suites run whole clusters and
// measure recovery, so they run afterwards, one file at a time, on an otherwise quiet machine.
const heavy = ['test/faults/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/hosts/**/*.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit+integration',
          include: ['test/**/*.test.ts'],
          exclude: heavy,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'faults+e2e',
          include: heavy,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
