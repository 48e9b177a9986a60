import { defineConfig } from "vitest/config";

// Unit tests (test/unit) take milliseconds. Integration tests (test/integration) drive real
// Bazel, Nix and Buildbarn and take minutes, hence the generous timeouts; files run one at a
// time because they share Bazel output bases and the chroot Nix store.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    setupFiles: ["test/setup-machine-cache.ts"],
    testTimeout: 15 * 60 * 1000,
    hookTimeout: 15 * 60 * 1000,
  },
});
