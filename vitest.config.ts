import { defineConfig } from 'vitest/config';

// Three projects, run one after another (`npm test` runs all; `npx vitest run --project unit`
// runs one): pure logic, the workflow against scripted activities on Temporal's test servers,
// and the integration suite against the real stack that its global setup starts once.
const quietLogs = 'test/support/quiet-logs.ts';

export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles: [quietLogs], sequence: { groupOrder: 0 } },
      },
      {
        test: {
          name: 'workflow',
          include: ['test/workflow/**/*.test.ts'],
          setupFiles: [quietLogs],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          setupFiles: [quietLogs],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Integration tests share one stack; running files one at a time keeps them from
          // competing for the two cores and makes timings stable.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
