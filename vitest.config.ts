import { configDefaults, defineConfig } from 'vitest/config';

// Three projects, so the CI budget can be kept per class (issue #2): pure unit + property tests run in
// parallel; the deterministic simulation runs in parallel too; integration tests with real processes
// and ports run one file at a time so they never fight over the 2 cores or the loopback ports.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/conformance/**/*.test.ts'],
          // Conformance suites that start a node are integration tests.
          exclude: [...configDefaults.exclude, 'test/conformance/**/*.integration.test.ts'],
          setupFiles: ['test/fc-setup.ts'],
          testTimeout: 60_000,
          // Vitest defaults to one worker fewer than the cores: on CI's 2 cores that is one file at a time.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'simulation',
          include: ['test/simulation/**/*.test.ts'],
          setupFiles: ['test/fc-setup.ts'],
          testTimeout: 300_000,
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/jepsen-like/**/*.test.ts',
            'test/conformance/**/*.integration.test.ts',
          ],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
