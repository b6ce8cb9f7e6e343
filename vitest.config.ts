import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real Orthanc processes and validators: give them time, and run at most two
    // files at once on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // CI runs the whole suite twice (Orthanc 1.10 and 1.12) on a 2-core machine, with real
    // processes and validators: one more try absorbs a timing hiccup, while a broken feature still
    // fails twice. Local runs do not retry, so a flaky test shows.
    retry: process.env['CI'] ? 1 : 0,
    pool: 'forks',
    // KV_TEST_FORKS=1 runs one file at a time, for a machine shared with other work.
    poolOptions: { forks: { maxForks: Number(process.env['KV_TEST_FORKS'] ?? 2), minForks: 1 } },
  },
});
