import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests spawn redis-server processes and bind ports; two cores
    // do not gain from more than two workers and timing-sensitive tests lose.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // CI reads the JSON report to print its "N passed, N failed" line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.ci-report/vitest.json' }]] : ['default'],
  },
});
