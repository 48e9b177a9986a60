import { defineConfig } from "vitest/config";

// Benchmarks that drive real Bazel, Nix and the loopback Buildbarn cluster, written as vitest
// files so they share the integration harness (test/integration). Not part of `npm test`:
//   npx vitest run --config bench/vitest.config.ts
export default defineConfig({
  test: {
    include: ["bench/**/*.bench.test.ts"],
    fileParallelism: false,
    setupFiles: ["test/setup-machine-cache.ts"],
    testTimeout: 3 * 60 * 60 * 1000,
    hookTimeout: 30 * 60 * 1000,
  },
});
